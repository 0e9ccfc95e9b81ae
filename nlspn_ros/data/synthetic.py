"""Synthetic depth-completion frames: procedural scenes seen by a KITTI-like camera and LiDAR.

``render_frame(seed)`` ray-casts a random street or indoor scene (see :mod:`.scenes`) into an RGB
image with textures and Lambert shading (image edges follow depth edges, as in real data), the
dense ground-truth depth (z in the camera's optical frame, 0 = sky / nothing within range) and a
LiDAR sweep (:mod:`.lidar`, an HDL-64E pattern) from a LiDAR mounted like KITTI's: 0.27 m behind
and 0.08 m above the camera. The sparse input is made by the package's own projection
(:func:`nlspn_ros.geometry.project_to_depth`), exactly as the node does with real data; at
1216x352 about 4-5% of the pixels get a point. Everything is a pure function of the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nlspn_ros.data.lidar import LidarModel, sweep
from nlspn_ros.data.raycast import cast
from nlspn_ros.data.scenes import Scene, random_scene
from nlspn_ros.data.textures import pattern
from nlspn_ros.geometry import CameraModel, project_to_depth, transform_from_rpy

# KITTI depth-completion frames: 1216x352 bottom crops of the left colour camera.
KITTI_SIZE = (1216, 352)
KITTI_FX, KITTI_CX, KITTI_CY = 721.5, 596.6, 149.9
# LiDAR origin in the camera optical frame (x right, y down, z forward), metres: cf. KITTI Tr_velo_to_cam.
LIDAR_IN_CAMERA = (0.06, -0.08, -0.27)
# LiDAR axes (x forward, y left, z up) in the camera frame: columns of the rotation.
R_CAM_LIDAR = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
MAX_RANGE = 90.0


@dataclass
class SyntheticFrame:
    """One frame: ``rgb`` HxWx3 uint8, ``depth_gt`` HxW float32 metres (0 = no surface), ``points``
    Nx4 float32 (x, y, z, intensity) in the LiDAR frame, ``camera``, ``T_cam_lidar`` 4x4 and
    ``sparse`` HxW float32 (the points projected into the image, 0 = none)."""

    rgb: np.ndarray
    depth_gt: np.ndarray
    points: np.ndarray
    camera: CameraModel
    T_cam_lidar: np.ndarray
    sparse: np.ndarray
    kind: str
    seed: int


def kitti_like_camera(width: int = KITTI_SIZE[0], height: int = KITTI_SIZE[1]) -> CameraModel:
    """KITTI's intrinsics for 1216x352, scaled for other sizes (fx with the width, fy with the height)."""
    sx, sy = width / KITTI_SIZE[0], height / KITTI_SIZE[1]
    return CameraModel.pinhole(width, height, KITTI_FX * sx, KITTI_FX * sy, KITTI_CX * sx, KITTI_CY * sy)


def kitti_like_extrinsic(rng: np.random.Generator | None = None) -> np.ndarray:
    """``T_cam_lidar`` as mounted on the KITTI car; with ``rng``, perturbed by ~0.3 deg and ~1 cm."""
    t_cam_lidar = np.eye(4)
    t_cam_lidar[:3, :3] = R_CAM_LIDAR
    t_cam_lidar[:3, 3] = LIDAR_IN_CAMERA
    if rng is not None:
        jitter = transform_from_rpy(rng.normal(0, 0.01, 3), *np.deg2rad(rng.normal(0, 0.3, 3)))
        t_cam_lidar = t_cam_lidar @ jitter
    return t_cam_lidar


def _camera_rays(camera: CameraModel) -> np.ndarray:
    cols, rows = np.meshgrid(np.arange(camera.width), np.arange(camera.height))
    dirs = np.stack([(cols - camera.cx) / camera.fx, (rows - camera.cy) / camera.fy, np.ones(cols.shape)], -1)
    return (dirs / np.linalg.norm(dirs, axis=-1, keepdims=True)).reshape(-1, 3)


def _pixel_candidates(camera: CameraModel):
    """Rays (row-major pixels) that may hit a box lo..hi: its projected corners' bounding rectangle."""

    def candidates(lo: np.ndarray, hi: np.ndarray) -> np.ndarray | None:
        corners = np.array(np.meshgrid([lo[0], hi[0]], [lo[1], hi[1]], [lo[2], hi[2]])).reshape(3, -1).T
        if np.any(corners[:, 2] < 0.05):
            return None  # straddles the camera plane: test every ray
        u = corners[:, 0] / corners[:, 2] * camera.fx + camera.cx
        v = corners[:, 1] / corners[:, 2] * camera.fy + camera.cy
        c0, c1 = max(int(np.floor(u.min())) - 1, 0), min(int(np.ceil(u.max())) + 2, camera.width)
        r0, r1 = max(int(np.floor(v.min())) - 1, 0), min(int(np.ceil(v.max())) + 2, camera.height)
        if c0 >= c1 or r0 >= r1:
            return np.empty(0, dtype=np.int64)
        return (np.arange(r0, r1)[:, None] * camera.width + np.arange(c0, c1)[None, :]).ravel()

    return candidates


def _shade(scene: Scene, camera: CameraModel, dirs: np.ndarray, rng: np.random.Generator):
    """(rgb float HxWx3 in 0..1, depth HxW float32)."""
    hits = cast(scene.objects, np.zeros(3), dirs, MAX_RANGE, _pixel_candidates(camera))
    rows = np.flatnonzero(hits.hit)
    index = hits.index[rows]
    texture = np.empty(len(rows))
    albedo = np.empty((len(rows), 3))
    for i in np.unique(index):
        mine = index == i
        material = scene.objects[i].material
        tex = pattern(material.texture, hits.uv[mine], material.scale, seed=float(i) + rng.random())
        texture[mine] = 1.0 - material.contrast + 2.0 * material.contrast * tex
        albedo[mine] = material.albedo
    lambert = np.clip(hits.normals @ scene.light_dir, 0.0, 1.0)
    ambient = 0.35 if scene.kind == "street" else 0.5
    color = albedo * texture[:, None] * (ambient + (1 - ambient) * lambert)[:, None]
    fog = (0.6 * np.clip(hits.t[rows] / MAX_RANGE, 0, 1) ** 2)[:, None]
    color = color * (1 - fog) + scene.sky_bottom * fog

    height, width = camera.height, camera.width
    elevation = np.clip(-dirs[:, 1] * 3.0, 0.0, 1.0)[:, None]  # sky gradient with the ray's elevation
    image = scene.sky_bottom * (1 - elevation) + scene.sky_top * elevation
    image[rows] = color
    depth = np.zeros(len(dirs), np.float32)
    depth[rows] = hits.t[rows] * dirs[rows, 2]
    return image.reshape(height, width, 3), depth.reshape(height, width)


def render_frame(
    seed: int,
    width: int = KITTI_SIZE[0],
    height: int = KITTI_SIZE[1],
    kind: str | None = None,
    lidar: LidarModel | None = None,
) -> SyntheticFrame:
    """Render the frame of ``seed`` (deterministic). ``kind``: 'street', 'indoor' or None (random).

    The LiDAR pattern is that of the real sensor, so sizes other than 1216x352 (camera scaled from
    KITTI's) change the density in pixels: the KITTI-like ~4-5% holds at 1216x352.
    """
    if width < 8 or height < 8:
        raise ValueError(f"image too small: {width}x{height}")
    rng = np.random.default_rng(seed)
    scene = random_scene(rng, kind)
    camera = kitti_like_camera(width, height)
    t_cam_lidar = kitti_like_extrinsic(rng)

    image, depth = _shade(scene, camera, _camera_rays(camera), rng)
    exposure = rng.uniform(0.8, 1.2)
    image = image * exposure + rng.normal(0, 0.01, image.shape)
    rgb = (np.clip(image, 0, 1) ** (1 / 1.2) * 255 + 0.5).astype(np.uint8)

    reflectivity = np.array([obj.material.reflectivity for obj in scene.objects])
    points = sweep(scene.objects, t_cam_lidar, reflectivity, lidar or LidarModel(), rng)
    sparse = project_to_depth(points, t_cam_lidar, camera)
    return SyntheticFrame(rgb, depth, points, camera, t_cam_lidar, sparse, scene.kind, int(seed))
