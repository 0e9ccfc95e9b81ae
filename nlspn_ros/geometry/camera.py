"""A pinhole camera as described by a ``sensor_msgs/CameraInfo`` message.

Conventions (those of CameraInfo / image_geometry):

* Points are in the camera's optical frame: x right, y down, z forward, metres.
* Pixel centres are at integer coordinates: pixel (col, row) covers ``[col - 0.5, col + 0.5)``.
* ``rectified=True`` (the default): the image is the *rectified* one (``image_rect``). A point X in
  the camera frame lands at ``P @ [R @ X; 1]``; D and K are not used. This is what
  image_geometry's ``project3dToPixel`` + ``rectifyPoint`` describe, and what NLSPN wants
  (KITTI depth completion images are rectified).
* ``rectified=False``: the image is the *raw*, distorted one (``image_raw``). X lands at
  ``K @ distort(X / z, D)`` (OpenCV ``projectPoints``; ``cv2.fisheye`` for ``equidistant``); P and R
  are not used.

Binning and ROI are folded into K and P exactly as image_geometry does, so the model always
describes the image as published (``camera.width`` x ``camera.height``).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

# Raw images: distortion_model -> accepted numbers of coefficients in D (an empty D always means no
# distortion). As image_geometry: "equidistant" (alias "fisheye") is OpenCV's fisheye model, every
# other model (an empty name too) OpenCV's standard one, which takes k1 k2 p1 p2 [k3 [k4 k5 k6 [s1 s2
# s3 s4 [tx ty]]]]. Rectified images do not use D: any model and D are accepted there.
DISTORTION_MODELS: dict[str, tuple[int, ...]] = {
    "plumb_bob": (4, 5),
    "rational_polynomial": (8, 12, 14),
    "equidistant": (4,),
    "fisheye": (4,),
    "": (4, 5, 8, 12, 14),
}
# Largest magnitude accepted in K, P (pixels) and D: far beyond any real camera (a focal length of
# 1e7 px), small enough that projection in float32 cannot overflow. The smallest focal length (px).
MAX_CALIBRATION_VALUE = 1e7
MIN_FOCAL_LENGTH = 1e-3
# Largest image side accepted (pixels; the crop parameters' range): a CameraInfo of 2^31 columns would
# otherwise have projection allocate its depth image.
MAX_IMAGE_SIDE = 100_000


class CalibrationError(ValueError):
    """A camera calibration (or its pairing with an image) is unusable; the message says why."""


def _matrix(values: Any, rows: int, cols: int, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.size != rows * cols:
        raise CalibrationError(f"{name} must have {rows * cols} values ({rows}x{cols}), got {array.size}")
    array = array.reshape(rows, cols).copy()
    if not np.all(np.isfinite(array)):
        raise CalibrationError(f"{name} contains NaN or Inf: {array.tolist()}")
    array.setflags(write=False)
    return array


def _pixel_transform(x_offset: float, y_offset: float, sx: float, sy: float) -> np.ndarray:
    """3x3 map from old pixel coordinates to new: subtract the offset, then scale."""
    return np.array([[sx, 0.0, -x_offset * sx], [0.0, sy, -y_offset * sy], [0.0, 0.0, 1.0]])


@dataclass(frozen=True, eq=False)
class CameraModel:
    """Intrinsics of one camera for images of ``width`` x ``height`` pixels.

    ``k`` (3x3), ``r`` (3x3), ``p`` (3x4) and ``d`` hold the CameraInfo matrices already adjusted
    for binning/ROI. Construct with :meth:`from_camera_info`, :meth:`pinhole` or
    :func:`nlspn_ros.geometry.load_kitti_calib`; the constructor validates everything.
    """

    width: int
    height: int
    k: np.ndarray
    p: np.ndarray
    d: np.ndarray = field(default_factory=lambda: np.zeros(0))
    r: np.ndarray = field(default_factory=lambda: np.eye(3))
    distortion_model: str = "plumb_bob"
    rectified: bool = True

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen dataclass: normalise the fields once, here
        for name in ("width", "height"):
            value = getattr(self, name)
            try:
                valid = not isinstance(value, bool) and int(value) == value and 0 < value <= MAX_IMAGE_SIDE
            except (TypeError, ValueError, OverflowError):
                valid = False
            if not valid:
                raise CalibrationError(
                    f"image {name} must be an integer in [1, {MAX_IMAGE_SIDE}], got {value!r}"
                )
            set_(self, name, int(value))
        set_(self, "k", _matrix(self.k, 3, 3, "K"))
        set_(self, "r", _matrix(self.r, 3, 3, "R"))
        set_(self, "p", _matrix(self.p, 3, 4, "P"))
        try:
            d = np.asarray(self.d, dtype=np.float64).ravel().copy()
        except (TypeError, ValueError) as exc:
            raise CalibrationError(f"D is not a list of numbers: {exc}") from exc
        d.setflags(write=False)
        set_(self, "d", d)
        if not self.rectified:  # only raw images are projected through D
            self._validate_distortion()
        self._validate_geometry()

    def _validate_distortion(self) -> None:
        d, model = self.d, self.distortion_model
        if not np.all(np.isfinite(d)):
            raise CalibrationError(f"D contains NaN or Inf: {d.tolist()}")
        if model not in DISTORTION_MODELS:
            raise CalibrationError(
                f"unknown distortion_model {model!r} for a raw image; supported: "
                f"{sorted(m for m in DISTORTION_MODELS if m)} (or empty)"
            )
        if d.size and d.size not in DISTORTION_MODELS[model]:
            raise CalibrationError(
                f"distortion_model {model!r} needs {DISTORTION_MODELS[model]} coefficients in D, got {d.size}"
            )
        if np.abs(d).max(initial=0.0) > MAX_CALIBRATION_VALUE:
            raise CalibrationError(
                f"D has an absurd coefficient (|d| > {MAX_CALIBRATION_VALUE:g}): {d.tolist()}"
            )

    @property
    def is_fisheye(self) -> bool:
        """Raw image with OpenCV's fisheye (equidistant) model."""
        return self.distortion_model in ("equidistant", "fisheye")

    def _validate_geometry(self) -> None:
        matrix, name = (self.p, "P") if self.rectified else (self.k, "K")
        fx, fy = matrix[0, 0], matrix[1, 1]
        if not (fx > 0 and fy > 0):
            raise CalibrationError(
                f"{name} has a non-positive focal length (fx={fx}, fy={fy}): the camera is uncalibrated "
                f"({'rectified images use P' if self.rectified else 'raw images use K'})"
            )
        if min(fx, fy) < MIN_FOCAL_LENGTH or np.abs(matrix).max() > MAX_CALIBRATION_VALUE:
            raise CalibrationError(
                f"{name} is absurd (focal lengths fx={fx:g}, fy={fy:g} must be in "
                f"[{MIN_FOCAL_LENGTH:g}, {MAX_CALIBRATION_VALUE:g}] px, every entry at most "
                f"{MAX_CALIBRATION_VALUE:g}): {matrix.tolist()}"
            )
        if not np.allclose([matrix[1, 0], *matrix[2, :3]], [0.0, 0.0, 0.0, 1.0], rtol=0, atol=1e-9):
            raise CalibrationError(f"{name} must have the form [[fx s cx ...] [0 fy cy ...] [0 0 1 ...]]")
        if self.rectified:
            if abs(self.p[2, 3]) > 1e-9:
                raise CalibrationError(f"P's third row must be [0 0 1 0], got {self.p[2].tolist()}")
            bounded = np.abs(self.r).max() <= 1.0 + 1e-5  # first: r @ r.T of 1e300 overflows
            orthonormal = bounded and np.allclose(self.r @ self.r.T, np.eye(3), atol=1e-5)
            if not orthonormal or np.linalg.det(self.r) < 0:
                raise CalibrationError(f"R must be a rotation matrix, got {self.r.tolist()}")

    def _key(self) -> tuple:
        return (self.width, self.height, self.distortion_model, self.rectified,
                self.k.tobytes(), self.p.tobytes(), self.r.tobytes(), self.d.tobytes())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CameraModel) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    # ------------------------------------------------------------------ construction
    @classmethod
    def pinhole(
        cls, width: int, height: int, fx: float, fy: float, cx: float, cy: float
    ) -> CameraModel:
        """An undistorted camera with K = P[:, :3] = [[fx 0 cx] [0 fy cy] [0 0 1]], R = I."""
        k = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        return cls(width, height, k=k, p=np.hstack([k, np.zeros((3, 1))]), d=np.zeros(5))

    @classmethod
    def from_camera_info(cls, info: Any, rectified: bool = True) -> CameraModel:
        """From a ``sensor_msgs/msg/CameraInfo`` (rclpy or rosbags) or any object with its field names.

        ``rectified`` says which image the model is for (see the module docstring). Binning
        (0 = 1) and a non-empty ROI are applied as image_geometry does:
        ``fx' = fx / binning_x``, ``cx' = (cx - roi.x_offset) / binning_x``.
        """
        try:
            width, height = int(info.width), int(info.height)
            binning_x, binning_y = max(1, int(info.binning_x)), max(1, int(info.binning_y))
            roi = info.roi
            roi_x, roi_y = int(roi.x_offset), int(roi.y_offset)
            roi_w, roi_h, do_rectify = int(roi.width), int(roi.height), bool(roi.do_rectify)
            k, d, r, p = info.k, info.d, info.r, info.p
            distortion_model = str(info.distortion_model)
        except AttributeError as exc:
            raise CalibrationError(f"not a CameraInfo: {exc}") from exc
        if width <= 0 or height <= 0:
            raise CalibrationError(f"CameraInfo has no image size ({width}x{height}): uncalibrated")
        full_roi = roi_x == 0 and roi_y == 0 and roi_w == 0 and roi_h == 0
        if full_roi:
            roi_w, roi_h = width, height
        elif roi_x + roi_w > width or roi_y + roi_h > height or roi_w <= 0 or roi_h <= 0:
            raise CalibrationError(
                f"ROI x={roi_x} y={roi_y} {roi_w}x{roi_h} does not fit the {width}x{height} calibration"
            )
        elif rectified and do_rectify:
            raise CalibrationError("an ROI with do_rectify=true on a rectified image is not supported")
        full = cls(width, height, k=_matrix(k, 3, 3, "K"), p=_matrix(p, 3, 4, "P"), d=np.asarray(d, float),
                   r=_matrix(r, 3, 3, "R"), distortion_model=distortion_model, rectified=rectified)
        if full_roi and binning_x == 1 and binning_y == 1:
            return full
        # image_geometry: cx' = (cx - x_offset) / binning, no half-pixel shift.
        a = _pixel_transform(roi_x, roi_y, 1.0 / binning_x, 1.0 / binning_y)
        return full._replaced(roi_w // binning_x, roi_h // binning_y, a)

    def _replaced(self, width: int, height: int, pixel_map: np.ndarray) -> CameraModel:
        return CameraModel(width, height, k=pixel_map @ self.k, p=pixel_map @ self.p, d=self.d, r=self.r,
                           distortion_model=self.distortion_model, rectified=self.rectified)

    # ------------------------------------------------------------------ derived cameras
    def cropped(self, x: int, y: int, width: int, height: int) -> CameraModel:
        """The camera of ``image[y:y + height, x:x + width]``."""
        if x < 0 or y < 0 or width <= 0 or height <= 0 or x + width > self.width or y + height > self.height:
            raise CalibrationError(
                f"crop x={x} y={y} {width}x{height} does not fit the {self.width}x{self.height} image"
            )
        return self._replaced(width, height, _pixel_transform(x, y, 1.0, 1.0))

    def scaled(self, factor: float | Sequence[float]) -> CameraModel:
        """The camera of the image resized by ``factor`` (or ``(sx, sy)``), e.g. with ``cv2.resize``.

        The new size is ``round(width * sx)`` x ``round(height * sy)``; with pixel centres at integer
        coordinates a point moves from u to ``(u + 0.5) * sx - 0.5`` (exact for resizing, unlike the
        binning formula image_geometry uses for CameraInfo, which drops the half pixel).
        """
        factors = np.asarray(factor, dtype=np.float64).ravel()
        if factors.size not in (1, 2):
            raise CalibrationError(f"scale must be one factor or (sx, sy), got {factor!r}")
        sx, sy = float(factors[0]), float(factors[-1])
        if not (np.isfinite(sx) and np.isfinite(sy) and sx > 0 and sy > 0):
            raise CalibrationError(f"scale factors must be finite and positive, got ({sx}, {sy})")
        width, height = round(self.width * sx), round(self.height * sy)
        pixel_map = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
        return self._replaced(width, height, pixel_map)

    def check_image_size(self, width: int, height: int) -> None:
        """Raise :class:`CalibrationError` unless an image of ``width`` x ``height`` fits this camera."""
        if (int(width), int(height)) != (self.width, self.height):
            raise CalibrationError(
                f"image is {width}x{height} but the camera calibration describes {self.width}x{self.height} "
                "(after binning/ROI): wrong CameraInfo for this image, or the image was resized"
            )

    # ------------------------------------------------------------------ accessors
    @property
    def projection_matrix(self) -> np.ndarray:
        """3x3 intrinsics used for projection: ``P[:, :3]`` if rectified, else K."""
        return self.p[:, :3] if self.rectified else self.k

    @property
    def fx(self) -> float:
        return float(self.projection_matrix[0, 0])

    @property
    def fy(self) -> float:
        return float(self.projection_matrix[1, 1])

    @property
    def cx(self) -> float:
        return float(self.projection_matrix[0, 2])

    @property
    def cy(self) -> float:
        return float(self.projection_matrix[1, 2])

    @property
    def has_distortion(self) -> bool:
        return bool(np.any(self.d != 0))

    @cached_property
    def max_ray_slope(self) -> float:
        """Largest ``sqrt(x^2 + y^2) / z`` the raw distortion model maps monotonically (inf if none).

        Polynomial distortion folds back beyond some radius, so far off-axis points would land
        mirrored inside the image; projection drops points beyond this slope as outside the image.
        Radial terms only (tangential ones are small). Computed once per camera.
        """
        if not self.has_distortion:
            return float("inf")
        if self.is_fisheye:
            theta = np.linspace(0.0, np.pi / 2, 20001)[:-1]
            k1, k2, k3, k4 = self.d
            t2 = theta * theta
            distorted = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
            limit = theta
        else:
            limit = np.linspace(0.0, 20.0, 40001)
            coefficients = np.zeros(8)
            coefficients[: min(self.d.size, 8)] = self.d[:8]  # k1 k2 p1 p2 k3 [k4 k5 k6]; prism terms ignored
            k1, k2, _, _, k3, k4, k5, k6 = coefficients
            r2 = limit * limit
            distorted = limit * (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
        folds = np.flatnonzero(np.diff(distorted) <= 0)
        if folds.size == 0:
            return float(np.tan(limit[-1])) if self.is_fisheye else float("inf")
        edge = float(limit[folds[0]])
        return float(np.tan(edge)) if self.is_fisheye else edge

    def to_camera_info_fields(self) -> dict[str, Any]:
        """CameraInfo fields (all but header) as plain Python values, binning and ROI already applied.

        ``CameraInfo(**fields)`` with ``roi=RegionOfInterest(**fields["roi"])`` rebuilds the message.
        """
        d = self.d.tolist()
        return {
            "height": self.height,
            "width": self.width,
            "distortion_model": self.distortion_model,
            "d": d,
            "k": self.k.ravel().tolist(),
            "r": self.r.ravel().tolist(),
            "p": self.p.ravel().tolist(),
            "binning_x": 0,
            "binning_y": 0,
            "roi": {"x_offset": 0, "y_offset": 0, "height": 0, "width": 0, "do_rectify": False},
        }

