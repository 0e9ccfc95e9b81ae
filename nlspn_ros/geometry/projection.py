"""LiDAR points -> sparse depth image (the input NLSPN takes), with a z-buffer and drop counts.

A point X (LiDAR frame) goes to the camera's optical frame with ``T_cam_lidar``, then to pixel
coordinates (u, v) with the camera model (see :mod:`nlspn_ros.geometry.camera`). It lands in
column ``floor(u + 0.5)``, row ``floor(v + 0.5)``; its depth is z in the (rectified, for rectified
images) optical frame. Where several points land in one pixel the nearest wins. Each dropped point
is counted under the first rule it breaks, in this order: non-finite, too near (behind the camera
or under ``min_depth``), too far (depth over ``max_depth``), outside the image.

Cost is O(N) in float32 over the cloud plus one image allocation; nothing depends on pixels x
points.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from nlspn_ros.geometry.camera import CameraModel
from nlspn_ros.geometry.motion import ConstantVelocity

DEFAULT_MIN_DEPTH = 0.1
DEFAULT_MAX_DEPTH = float("inf")
# Pixel coordinates this close (px) to a pixel border are recomputed in float64.
BORDER_TOLERANCE = 2e-3


@dataclass(frozen=True)
class ProjectionStats:
    """What happened to the points of one cloud (for the node's diagnostics)."""

    input_points: int
    non_finite: int  # NaN/Inf coordinates (or so large that the transform overflows)
    too_near: int  # behind the camera or nearer than min_depth
    too_far: int  # depth beyond max_depth
    outside_image: int
    landed: int  # points inside the image, before the z-buffer
    pixels: int  # pixels with a depth (landed minus points hidden by a nearer one in the same pixel)

    @property
    def dropped(self) -> int:
        return self.non_finite + self.too_near + self.too_far + self.outside_image

    @property
    def occluded(self) -> int:
        return self.landed - self.pixels

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "dropped": self.dropped, "occluded": self.occluded}


@dataclass(frozen=True)
class Projection:
    """``depth``: HxW float32 metres, 0 = no point. ``intensity``: HxW float32 of the winning
    points (0 = no point), or None when no intensities were given."""

    depth: np.ndarray
    intensity: np.ndarray | None
    stats: ProjectionStats


def _as_xyz(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points)
    if points.dtype.names:
        raise ValueError(f"points is a structured array {points.dtype.names}: pass "
                         "np.stack([p['x'], p['y'], p['z']], axis=1) (as conversions.cloud_to_xyz does)")
    if points.ndim != 2 or points.shape[1] < 3:
        raise ValueError(f"points must be an (N, 3+) array (x, y, z first), got shape {points.shape}")
    if not (np.issubdtype(points.dtype, np.floating) or np.issubdtype(points.dtype, np.integer)):
        raise ValueError(f"points must be numeric, got dtype {points.dtype}")
    return points[:, :3]


def _camera_matrix(t_cam_lidar: np.ndarray, camera: CameraModel) -> np.ndarray:
    """3x4 float64 matrix from LiDAR points to ``[u*w, v*w, w]`` (rectified: ``P @ R @ T``) or to
    camera-frame ``[x, y, z]`` (raw: u, v come from OpenCV's distortion model later)."""
    if not camera.rectified:
        return t_cam_lidar[:3].copy()
    rotation = np.eye(4)
    rotation[:3, :3] = camera.r
    return camera.p @ rotation @ t_cam_lidar


def _pixels(
    first: np.ndarray, second: np.ndarray, depth: np.ndarray, camera: CameraModel
) -> tuple[np.ndarray, np.ndarray]:
    """``(u + 0.5, v + 0.5)`` from the rows of :func:`_camera_matrix`. Raw cameras need all depths
    > 0; rectified ones give meaningless values (for the caller to mask) where they are not."""
    if camera.rectified:
        u, v = first / depth, second / depth
    else:
        u, v = _raw_pixels(np.stack([first, second, depth]), camera)
    u += 0.5
    v += 0.5
    return u, v


def _pixel_indices(
    u: np.ndarray, v: np.ndarray, xyz: np.ndarray, point_index: np.ndarray, matrix: np.ndarray,
    camera: CameraModel,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(row * width + col, inside)`` for candidates with float32 ``u + 0.5``, ``v + 0.5`` within
    BORDER_TOLERANCE of the image: col = floor(u + 0.5), row = floor(v + 0.5), of the candidates
    at positions ``inside`` (None: all of them).

    float32 coordinates are good to ~1e-4 px; the few points that close to a pixel border are
    redone in float64 (from ``xyz[point_index]``, the LiDAR points of u and v), so where a point
    lands does not hinge on float32 rounding. Only those can lie outside the image: a candidate
    farther than the tolerance from every pixel border is inside, so only they are tested.
    """
    # modf truncates: floor for u >= 0; the candidates in (-tolerance, 0) have a fraction in
    # (-tolerance, 0], so they are among the close ones and redone.
    col_fraction, col = np.modf(u)
    row_fraction, row = np.modf(v)
    close = np.flatnonzero(
        (np.minimum(col_fraction, row_fraction) < BORDER_TOLERANCE)
        | (np.maximum(col_fraction, row_fraction) > 1 - BORDER_TOLERANCE)
    )
    col, row = col.astype(np.intp), row.astype(np.intp)
    inside = None
    if close.size:
        xyz64 = xyz[point_index[close]].astype(np.float64)
        exact_u, exact_v = _pixels(*(xyz64 @ matrix[i, :3] + matrix[i, 3] for i in range(3)), camera)
        # NaN (a raw-mode ray right at the distortion fold-back) -> -1: outside the image.
        col[close] = np.floor(np.nan_to_num(exact_u, nan=-1.0))
        row[close] = np.floor(np.nan_to_num(exact_v, nan=-1.0))
        # one unsigned comparison per axis: negative indices wrap to huge values
        exact_col, exact_row = col[close].view(np.uintp), row[close].view(np.uintp)
        outside = close[(exact_col >= camera.width) | (exact_row >= camera.height)]
        if outside.size:
            keep = np.ones(u.size, dtype=bool)
            keep[outside] = False
            inside = np.flatnonzero(keep)
            col, row = col[inside], row[inside]
    return row * camera.width + col, inside


def _row(matrix: np.ndarray, index: int, xyz: np.ndarray) -> np.ndarray:
    """One output coordinate for every point. A matrix-vector product (not one 3x3 @ 3xN product):
    BLAS runs those single-threaded, and a threaded GEMM this small is slower on a busy CPU."""
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/Inf points are counted by the caller
        values = xyz @ matrix[index, :3]
        values += matrix[index, 3]
    return values


def _near_image(u: np.ndarray, v: np.ndarray, camera: CameraModel) -> np.ndarray:
    """Mask of ``u + 0.5``, ``v + 0.5`` inside the image or within BORDER_TOLERANCE of its border
    (those are decided exactly in :func:`_pixel_indices`); False for NaN."""
    low, tolerance = -BORDER_TOLERANCE, BORDER_TOLERANCE
    return (u > low) & (u < camera.width + tolerance) & (v > low) & (v < camera.height + tolerance)


def _affine(row: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``row @ [x, y, z, 1]`` elementwise, for the gathered columns of the points kept."""
    with np.errstate(over="ignore"):  # an overflow gives inf: counted as outside the image
        values = x * row[0]
        values += y * row[1]
        values += z * row[2]
        values += row[3]
    return values


def _raw_pixels(camera_points: np.ndarray, camera: CameraModel) -> np.ndarray:
    """(3, M) points in the camera frame, all with z > 0 -> (2, M) raw (distorted) pixel coordinates;
    NaN (counted as outside the image) beyond the slope where the distortion model folds back."""
    if camera_points.shape[1] == 0:  # OpenCV returns None for no points
        return np.empty((2, 0))
    objects = np.ascontiguousarray(camera_points.T, dtype=np.float64).reshape(-1, 1, 3)
    zero = np.zeros(3)
    if camera.is_fisheye:
        d = camera.d if camera.d.size else np.zeros(4)
        pixels, _ = cv2.fisheye.projectPoints(objects, zero, zero, camera.k, d)
    else:
        d = camera.d if camera.d.size else np.zeros(5)
        pixels, _ = cv2.projectPoints(objects, zero, zero, camera.k, d)
    pixels = pixels.reshape(-1, 2).T.copy()
    x, y, z = objects.reshape(-1, 3).T  # float64: squares of float32 coordinates cannot overflow
    beyond = (x * x + y * y) > (camera.max_ray_slope**2) * (z * z)
    pixels[:, beyond] = np.nan
    return pixels


def _zbuffer(
    linear_index: np.ndarray, depth: np.ndarray, intensity: np.ndarray | None, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Nearest point per pixel -> (depth image, intensity image or None, filled pixels).

    ``np.minimum.at`` (unbuffered, exact for repeated indices) on the landing points only; see
    benchmarks/bench_projection.py --compare-zbuffer for the alternatives measured. Points with
    exactly equal depth in one pixel tie; the intensity is then that of either of them.
    """
    depth_image = np.zeros(shape, dtype=np.float32)
    flat = depth_image.ravel()
    flat[linear_index] = np.inf
    np.minimum.at(flat, linear_index, depth)
    pixels = int(np.count_nonzero(flat.view(np.uint32)))  # same as on the floats, several times faster
    intensity_image = None
    if intensity is not None:
        intensity_image = np.zeros(shape, dtype=np.float32)
        winners = np.flatnonzero(flat[linear_index] == depth)
        intensity_image.ravel()[linear_index[winners]] = intensity[winners]
    return depth_image, intensity_image, pixels


def project_points(
    points: np.ndarray,
    t_cam_lidar: np.ndarray,
    camera: CameraModel,
    *,
    min_depth: float = DEFAULT_MIN_DEPTH,
    max_depth: float = DEFAULT_MAX_DEPTH,
    intensity: np.ndarray | None = None,
    motion: ConstantVelocity | None = None,
) -> Projection:
    """Project an (N, 3+) LiDAR cloud (x, y, z first; extra columns ignored) into ``camera``.

    ``t_cam_lidar``: 4x4 LiDAR -> camera optical frame. ``intensity``: optional (N,) values
    rendered alongside the depth (same z-buffer winners). ``motion``: optional per-point motion
    compensation to the image stamp. An empty cloud gives an all-zero image.
    """
    xyz = _as_xyz(points)
    if not 0 < min_depth <= max_depth:
        raise ValueError(f"need 0 < min_depth <= max_depth, got {min_depth}, {max_depth}")
    t_cam_lidar = np.asarray(t_cam_lidar, dtype=np.float64)
    if t_cam_lidar.shape != (4, 4):
        raise ValueError(f"t_cam_lidar must be 4x4, got shape {t_cam_lidar.shape}")
    count = xyz.shape[0]
    if intensity is not None:
        intensity = np.asarray(intensity, dtype=np.float32).ravel()
        if intensity.shape[0] != count:
            raise ValueError(f"{intensity.shape[0]} intensities for {count} points")
    if motion is not None:
        xyz = motion.apply(xyz)
    xyz = xyz.astype(np.float32, copy=False)
    height, width = camera.height, camera.width

    matrix = _camera_matrix(t_cam_lidar, camera)
    matrix32 = matrix.astype(np.float32)
    depth = _row(matrix32, 2, xyz)
    finite = np.isfinite(depth)
    non_finite = count - int(np.count_nonzero(finite))
    in_range = depth >= min_depth
    if max_depth < np.inf:
        in_range &= depth <= max_depth
    elif non_finite:
        in_range &= finite  # +Inf passes both depth tests
    too_near = depth < min_depth
    if non_finite:
        too_near &= finite  # -Inf
    too_near_count = int(np.count_nonzero(too_near))
    if camera.rectified:
        # Pixel coordinates of every point (meaningless where the depth is out of range: masked
        # below), then one index pass; cheaper than gathering the points in range first.
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            u, v = _pixels(_row(matrix32, 0, xyz), _row(matrix32, 1, xyz), depth, camera)
        # Points clearly outside go now; those within BORDER_TOLERANCE of the image border stay
        # for the exact test in _pixel_indices.
        kept_count = int(np.count_nonzero(in_range))
        in_range &= _near_image(u, v, camera)
        candidates = near_image = np.flatnonzero(in_range)
        u, v = u[candidates], v[candidates]
    else:
        # OpenCV's distortion model needs the points in front: gather those (column by column, a
        # 2-D row gather is several times slower) and compute the other two coordinates for them.
        kept = np.flatnonzero(in_range)
        kept_count = kept.size
        x, y, z = xyz[:, 0][kept], xyz[:, 1][kept], xyz[:, 2][kept]
        depth = depth[kept]
        u, v = _pixels(_affine(matrix32[0], x, y, z), _affine(matrix32[1], x, y, z), depth, camera)
        near_image = np.flatnonzero(_near_image(u, v, camera))
        candidates = kept[near_image]
        u, v = u[near_image], v[near_image]
    too_far_count = count - non_finite - too_near_count - kept_count
    linear_index, inside = _pixel_indices(u, v, xyz, candidates, matrix, camera)
    if inside is not None:
        near_image, candidates = near_image[inside], candidates[inside]
    depth = depth[near_image]
    values = intensity[candidates] if intensity is not None else None
    depth_image, intensity_image, pixels = _zbuffer(linear_index, depth, values, (height, width))
    stats = ProjectionStats(
        input_points=count,
        non_finite=non_finite,
        too_near=too_near_count,
        too_far=too_far_count,
        outside_image=kept_count - linear_index.size,
        landed=linear_index.size,
        pixels=pixels,
    )
    return Projection(depth_image, intensity_image, stats)


def project_to_depth(
    points: np.ndarray,
    t_cam_lidar: np.ndarray,
    camera: CameraModel,
    *,
    min_depth: float = DEFAULT_MIN_DEPTH,
    max_depth: float = DEFAULT_MAX_DEPTH,
    motion: ConstantVelocity | None = None,
) -> np.ndarray:
    """HxW float32 sparse depth in metres (0 = no point); see :func:`project_points`."""
    return project_points(points, t_cam_lidar, camera, min_depth=min_depth, max_depth=max_depth,
                          motion=motion).depth
