"""KITTI calibration files -> (CameraModel, T_cam_lidar).

Two layouts are read:

* object benchmark (``calib/000000.txt``): ``P0..P3``, ``R0_rect``, ``Tr_velo_to_cam``;
* raw data (``calib_cam_to_cam.txt`` + ``calib_velo_to_cam.txt``): ``P_rect_0N``, ``R_rect_00``,
  ``S_rect_0N`` and ``R``/``T``.

KITTI projects a LiDAR point X into rectified camera N with ``P_N @ R_rect_00 @ Tr_velo_to_cam @ X``.
``P_N = K_N @ [I | t_N]`` carries the offset of camera N from the reference camera 0, so here the
offset moves into the extrinsics: the camera model gets ``P = [K_N | 0]`` and
``T_cam_lidar = [I | t_N] @ R_rect_00 @ Tr_velo_to_cam``. Pixel coordinates are unchanged and the
depth (z in camera N's rectified optical frame) is exactly the third coordinate of the KITTI product.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from nlspn_ros.geometry.camera import CalibrationError, CameraModel

RAW_CAM_FILE = "calib_cam_to_cam.txt"
RAW_VELO_FILE = "calib_velo_to_cam.txt"


def read_calib_file(path: Path) -> dict[str, np.ndarray]:
    """``key: numbers`` lines as float64 arrays; lines whose values are not numbers (dates) are skipped."""
    values: dict[str, np.ndarray] = {}
    for line in Path(path).read_text().splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        try:
            values[key.strip()] = np.array([float(token) for token in rest.split()], dtype=np.float64)
        except ValueError:
            continue
    return values


def _require(values: dict[str, np.ndarray], key: str, size: int, path: Path) -> np.ndarray:
    if key not in values:
        raise CalibrationError(f"{path}: no {key!r} entry (keys: {sorted(values)})")
    if values[key].size != size:
        raise CalibrationError(f"{path}: {key!r} must have {size} values, got {values[key].size}")
    return values[key]


def _homogeneous(matrix_3xn: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, : matrix_3xn.shape[1]] = matrix_3xn
    return out


def _split_projection(p: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """P (3x4) = K @ [I | t] -> (K, t)."""
    k = p[:, :3]
    if not (k[0, 0] > 0 and k[1, 1] > 0) or not np.allclose(k[2], [0.0, 0.0, 1.0]):
        raise CalibrationError(f"{path}: projection matrix {p.tolist()} is not of the form K @ [I | t]")
    return k, np.linalg.solve(k, p[:, 3])


def _raw_files(path: Path) -> tuple[Path, Path] | None:
    folder = path if path.is_dir() else path.parent
    if path.is_dir() or path.name in (RAW_CAM_FILE, RAW_VELO_FILE):
        cam, velo = folder / RAW_CAM_FILE, folder / RAW_VELO_FILE
        for needed in (cam, velo):
            if not needed.is_file():
                raise CalibrationError(f"KITTI raw calibration needs {needed}, which does not exist")
        return cam, velo
    return None


def load_kitti_calib(
    path: str | Path, image_size: tuple[int, int] | None = None, camera: int = 2
) -> tuple[CameraModel, np.ndarray]:
    """Camera ``camera`` (0..3) of a KITTI calibration and the 4x4 float64 ``T_cam_lidar``.

    ``path``: an object-benchmark calib file, a raw-data calib file or the folder holding the raw
    pair. ``image_size=(width, height)`` is required for the object format (it varies per frame);
    for raw data it defaults to ``S_rect_0N``.
    """
    path = Path(path)
    if not path.exists():
        raise CalibrationError(f"KITTI calibration not found: {path}")
    if camera not in (0, 1, 2, 3):
        raise CalibrationError(f"KITTI camera must be 0..3, got {camera}")
    raw = _raw_files(path)
    if raw is None:
        values = read_calib_file(path)
        p = _require(values, f"P{camera}", 12, path).reshape(3, 4)
        r_rect = _require(values, "R0_rect", 9, path).reshape(3, 3)
        velo_to_cam = _require(values, "Tr_velo_to_cam", 12, path).reshape(3, 4)
        source = path
    else:
        cam_values, velo_values = read_calib_file(raw[0]), read_calib_file(raw[1])
        p = _require(cam_values, f"P_rect_0{camera}", 12, raw[0]).reshape(3, 4)
        r_rect = _require(cam_values, "R_rect_00", 9, raw[0]).reshape(3, 3)
        rotation = _require(velo_values, "R", 9, raw[1]).reshape(3, 3)
        translation = _require(velo_values, "T", 3, raw[1]).reshape(3, 1)
        velo_to_cam = np.hstack([rotation, translation])
        source = raw[0]
        if image_size is None:
            size = _require(cam_values, f"S_rect_0{camera}", 2, raw[0])
            image_size = (int(round(size[0])), int(round(size[1])))
    if image_size is None:
        raise CalibrationError(f"{path}: the KITTI object format needs image_size=(width, height)")
    k, offset = _split_projection(p, source)
    camera_offset = np.eye(4)
    camera_offset[:3, 3] = offset
    t_cam_lidar = camera_offset @ _homogeneous(r_rect) @ _homogeneous(velo_to_cam)
    model = CameraModel(int(image_size[0]), int(image_size[1]), k=k, p=np.hstack([k, np.zeros((3, 1))]),
                        d=np.zeros(5), r=np.eye(3), distortion_model="plumb_bob", rectified=True)
    return model, t_cam_lidar
