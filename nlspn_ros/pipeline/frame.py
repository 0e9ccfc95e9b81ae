"""One paired frame -> dense depth: convert, crop/scale, project, complete, mask (ROS-free).

Messages are read duck-typed (rclpy or rosbags), so the node and the offline bag evaluation run
the same steps. Bad input raises :class:`BadInput` with a short ``kind`` (the diagnostics counter)
and a readable reason; the caller skips the frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from nlspn_ros.completion import Completer
from nlspn_ros.geometry import CalibrationError, CameraModel, ProjectionStats, project_points
from nlspn_ros.pipeline.conversions import MessageFormatError, cloud_to_xyz, image_to_rgb
from nlspn_ros.pipeline.settings import NodeSettings


class BadInput(ValueError):
    """A frame that cannot be processed; ``kind`` names the diagnostics counter."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


@dataclass
class FrameResult:
    rgb: np.ndarray  # HxWx3 uint8 after crop/scale
    camera: CameraModel  # of the output images
    sparse: np.ndarray  # HxW float32 metres, 0 = none (the model's input; sparse_for_publishing: NaN)
    depth: np.ndarray  # HxW float32 metres, NaN = invalid
    confidence: np.ndarray | None  # HxW float32 0..1, None when the completer has none
    projection: ProjectionStats
    timings_ms: dict[str, float] = field(default_factory=dict)


def prepare_inputs(
    image: Any, camera_info: Any, cloud: Any, settings: NodeSettings
) -> tuple[np.ndarray, CameraModel, np.ndarray]:
    """Messages -> (rgb after crop/scale, its camera model, Nx3 cloud points); raises :class:`BadInput`."""
    expected_camera, expected_lidar = settings.camera_frame, settings.lidar_frame
    if expected_camera and image.header.frame_id != expected_camera:
        raise BadInput(
            "image_frame", f"image frame_id {image.header.frame_id!r} is not camera_frame {expected_camera!r}"
        )
    if expected_lidar and cloud.header.frame_id != expected_lidar:
        raise BadInput(
            "cloud_frame",
            f"cloud frame_id {cloud.header.frame_id!r} is not covered by the "
            f"extrinsic (lidar_frame {expected_lidar!r})",
        )
    try:
        rgb = image_to_rgb(image)
    except MessageFormatError as exc:
        raise BadInput("image", str(exc)) from exc
    try:
        camera = CameraModel.from_camera_info(camera_info, rectified=settings.image_rectified)
        camera.check_image_size(rgb.shape[1], rgb.shape[0])  # a CompressedImage has no width/height
    except CalibrationError as exc:
        raise BadInput("camera_info", str(exc)) from exc
    try:
        xyz = cloud_to_xyz(cloud)
    except MessageFormatError as exc:
        raise BadInput("cloud", str(exc)) from exc
    rgb, camera = crop_and_scale(rgb, camera, settings)
    return rgb, camera, xyz


def crop_and_scale(
    rgb: np.ndarray, camera: CameraModel, settings: NodeSettings
) -> tuple[np.ndarray, CameraModel]:
    x, y, width, height = settings.crop.box
    if settings.crop.anchor == "bottom_center":
        # per image: the same window size fits frames of several sizes (KITTI drives differ by date)
        width, height = width or camera.width, height or camera.height
        x, y = (camera.width - width) // 2, camera.height - height
        if x < 0 or y < 0:
            raise BadInput("crop", f"crop {width}x{height} is larger than the "
                           f"{camera.width}x{camera.height} image")
    width = width or camera.width - x
    height = height or camera.height - y
    try:
        if (x, y, width, height) != (0, 0, camera.width, camera.height):
            camera = camera.cropped(x, y, width, height)
            rgb = rgb[y : y + height, x : x + width]
        scale = settings.scale
        if scale != 1.0:
            camera = camera.scaled(scale)
            interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            rgb = cv2.resize(
                np.ascontiguousarray(rgb), (camera.width, camera.height), interpolation=interpolation
            )
    except CalibrationError as exc:
        raise BadInput("crop", str(exc)) from exc
    return np.ascontiguousarray(rgb), camera


def project(
    xyz: np.ndarray, camera: CameraModel, settings: NodeSettings, t_cam_lidar: np.ndarray | None = None
):
    """Project with ``t_cam_lidar`` (4x4; None: the settings', i.e. the extrinsic parameters)."""
    transform = settings.extrinsic if t_cam_lidar is None else t_cam_lidar
    projection = project_points(
        xyz, transform, camera, min_depth=settings.min_depth, max_depth=settings.max_depth
    )
    stats = projection.stats
    if stats.pixels == 0:
        if stats.input_points and stats.non_finite == stats.input_points:
            raise BadInput("nan_points", f"all {stats.input_points} cloud points are NaN/Inf")
        raise BadInput(
            "no_points_in_image",
            f"none of {stats.input_points} points lands in the image "
            f"({stats.as_dict()}): check the extrinsic and depth limits",
        )
    return projection


_QUIET_NAN_BITS = np.uint32(0x7FC00000)  # exponent all ones + quiet bit: NaN whatever else is set


def mask_depth(depth: np.ndarray, confidence: np.ndarray | None, settings: NodeSettings) -> np.ndarray:
    """A new float32 image: NaN where depth is outside [min_depth, max_depth] or confidence <
    confidence_threshold.

    Branch-free: the NaN bits are OR-ed into the invalid pixels (several times faster than
    boolean-mask assignment on a speckled mask; docs/node.md).
    """
    depth = np.asarray(depth, dtype=np.float32)
    invalid = ~((depth >= settings.min_depth) & (depth <= settings.max_depth))
    threshold = settings.confidence_threshold
    if confidence is not None and threshold > 0:
        invalid |= confidence < threshold
    bits = np.multiply(invalid.view(np.uint8), _QUIET_NAN_BITS, dtype=np.uint32)
    bits |= np.ascontiguousarray(depth).view(np.uint32)
    return bits.view(np.float32)


def process_frame(
    image: Any,
    camera_info: Any,
    cloud: Any,
    settings: NodeSettings,
    completer: Completer,
    t_cam_lidar: np.ndarray | None = None,
) -> FrameResult:
    """The whole pipeline for one pair; ``timings_ms`` has convert, project, infer, mask, model.

    ``t_cam_lidar``: 4x4 LiDAR -> camera of this pair (the node's, from TF); None = the settings'."""
    t0 = time.perf_counter()
    rgb, camera, xyz = prepare_inputs(image, camera_info, cloud, settings)
    t1 = time.perf_counter()
    projection = project(xyz, camera, settings, t_cam_lidar)
    t2 = time.perf_counter()
    completion = completer.complete(rgb, projection.depth)
    t3 = time.perf_counter()
    depth = mask_depth(completion.depth, completion.confidence, settings)
    t4 = time.perf_counter()
    timings = {
        "convert": (t1 - t0) * 1e3,
        "project": (t2 - t1) * 1e3,
        "infer": (t3 - t2) * 1e3,
        "mask": (t4 - t3) * 1e3,
        # the network forward alone (infer minus the completer's own pre/post-processing)
        "model": completion.timings_ms.get("model", (t3 - t2) * 1e3),
    }
    confidence = (
        None if completion.confidence is None else completion.confidence.astype(np.float32, copy=False)
    )
    return FrameResult(rgb, camera, projection.depth, depth, confidence, projection.stats, timings)


# ---------------------------------------------------------------------------- derived outputs


def sparse_for_publishing(sparse: np.ndarray) -> np.ndarray:
    """A new HxW float32 image of the projected LiDAR with NaN where there is no point.

    The model takes 0 for "no point"; a 32FC1 depth topic must use NaN (REP 118): depth_image_proc
    and RViz's DepthCloud take 0.0 as a valid depth and draw every empty pixel at the camera origin.
    """
    return np.where(sparse > 0, sparse, np.float32(np.nan)).astype(np.float32, copy=False)


# the largest float32 depth that rounds to at most 65535 mm (16UC1's largest value)
_MAX_MILLIMETRE_DEPTH = float(np.nextafter(np.float32(65.5355), np.float32(0.0)))


def depth_to_millimetres(depth: np.ndarray) -> np.ndarray:
    """16UC1 millimetres (REP 118), rounded to nearest (ties to even): 0 where NaN, negative, under
    0.5 mm or beyond 65.535 m.

    Depths beyond the range become 0 first (a threshold keeps NaN as NaN); OpenCV's saturating
    conversion to uint16 then maps NaN and negatives to 0: faster than the same in numpy
    (docs/node.md).
    """
    depth = np.asarray(depth, dtype=np.float32)
    in_range = cv2.threshold(depth, _MAX_MILLIMETRE_DEPTH, 0.0, cv2.THRESH_TOZERO_INV)[1]
    return cv2.addWeighted(in_range, 1000.0, in_range, 0.0, 0.0, dtype=cv2.CV_16U)


# turbo as an RGB lookup table for cv2.applyColorMap; level 0 is reserved for "no depth" (black)
_TURBO_RGB = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], cv2.COLORMAP_TURBO)[:, :, ::-1].copy()
_TURBO_RGB[0] = 0


def colorize_depth(depth: np.ndarray, min_depth: float, max_depth: float) -> np.ndarray:
    """HxWx3 uint8 RGB turbo colour map (near = red, far = blue), black where NaN (or -inf).

    Depth maps linearly to levels 255 (min_depth and nearer) .. 1 (max_depth and farther):
    OpenCV's saturating cast to uint8 sends NaN and -inf to level 0 and anything nearer than
    min_depth to 255; depths beyond max_depth (whose levels the cast's absolute value would fold
    back up) are set to 1 after, branch-free: faster than numpy clipping and casting, and
    ``np.copyto(where=...)`` alone costs as much as the whole function (docs/node.md).
    """
    depth = np.asarray(depth, dtype=np.float32)
    gain = 254.0 / max(max_depth - min_depth, 1e-6)
    levels = cv2.convertScaleAbs(depth, alpha=-gain, beta=255.0 + min_depth * gain)
    far = (depth > max_depth).view(np.uint8)  # 1 beyond max_depth (NaN compares False)
    levels &= far - np.uint8(1)  # 0 there, 255 (all bits kept) elsewhere: branch-free, unlike copyto
    levels |= far
    return cv2.applyColorMap(levels, _TURBO_RGB)


def depth_to_points(
    depth: np.ndarray, rgb: np.ndarray, camera: CameraModel, stride: int
) -> tuple[np.ndarray, np.ndarray]:
    """(Nx3 float32 points in the camera optical frame, Nx3 uint8 colours) for every ``stride``-th
    pixel with a finite depth (pinhole back-projection with P, or K for raw images, whose lens
    distortion is ignored here: points of raw images are approximate near the borders).

    Pixels are addressed by flat index (``take``): faster than 2-D fancy indexing (docs/node.md)."""
    sub = depth[::stride, ::stride]
    rows, cols = np.divmod(np.flatnonzero(np.isfinite(sub)), sub.shape[1])
    v, u = rows * stride, cols * stride
    pixel = v * depth.shape[1] + u
    z = np.ascontiguousarray(depth).reshape(-1).take(pixel)
    xyz = np.empty((len(z), 3), np.float32)
    xyz[:, 0] = (u - camera.cx) * (z / camera.fx)
    xyz[:, 1] = (v - camera.cy) * (z / camera.fy)
    xyz[:, 2] = z
    return xyz, np.ascontiguousarray(rgb).reshape(-1, 3).take(pixel, axis=0)
