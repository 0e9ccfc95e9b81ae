"""Rigid transforms between sensor frames as 4x4 float64 matrices.

``T_cam_lidar`` maps a point from the LiDAR frame to the camera's optical frame:
``X_cam = T_cam_lidar @ [X_lidar; 1]``. With tf2 that is
``buffer.lookup_transform(target_frame=camera_frame, source_frame=lidar_frame, ...)``, whose
translation and rotation (x, y, z, w) go straight into :func:`transform_from_quaternion`.

Rotations come from transforms3d (what ROS's tf_transformations wraps); its quaternions are
w-first, ROS's are w-last: the helpers here take ROS order.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from transforms3d.euler import euler2mat
from transforms3d.quaternions import quat2mat

from nlspn_ros.geometry.camera import CalibrationError


def _vector3(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float64).ravel()
    if vector.size != 3 or not np.all(np.isfinite(vector)):
        raise CalibrationError(f"{name} must be 3 finite numbers, got {np.asarray(values).tolist()}")
    return vector


def _assemble(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    transform = np.eye(4)
    transform[:3, :3] = rotation
    transform[:3, 3] = translation
    return transform


def transform_from_matrix(matrix: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """A validated 4x4 copy of a 4x4 (or 3x4 ``[R | t]``) rigid transform."""
    array = np.asarray(matrix, dtype=np.float64)
    if array.size == 12:
        array = np.vstack([array.reshape(3, 4), [0.0, 0.0, 0.0, 1.0]])
    if array.size != 16:
        raise CalibrationError(f"a transform must be 4x4 or 3x4, got shape {array.shape}")
    array = array.reshape(4, 4).copy()
    if not np.all(np.isfinite(array)):
        raise CalibrationError("the transform contains NaN or Inf")
    if not np.allclose(array[3], [0.0, 0.0, 0.0, 1.0]):
        raise CalibrationError(f"a rigid transform's last row must be [0 0 0 1], got {array[3].tolist()}")
    rotation = array[:3, :3]
    if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-5) or np.linalg.det(rotation) < 0:
        raise CalibrationError("the rotation part of the transform is not a rotation matrix")
    return array


def transform_from_quaternion(
    translation: Sequence[float] | np.ndarray, quaternion_xyzw: Sequence[float] | np.ndarray
) -> np.ndarray:
    """4x4 from a translation (metres) and a quaternion in ROS order (x, y, z, w); normalised here."""
    t = _vector3(translation, "translation")
    q = np.asarray(quaternion_xyzw, dtype=np.float64).ravel()
    if q.size != 4 or not np.all(np.isfinite(q)) or np.linalg.norm(q) < 1e-9:
        raise CalibrationError(f"quaternion (x, y, z, w) must be 4 finite numbers, not all 0: {q.tolist()}")
    x, y, z, w = q / np.linalg.norm(q)
    return _assemble(quat2mat([w, x, y, z]), t)


def transform_from_rpy(
    translation: Sequence[float] | np.ndarray, roll: float, pitch: float, yaw: float
) -> np.ndarray:
    """4x4 from a translation and roll/pitch/yaw in radians (ROS/URDF: R = Rz(yaw) Ry(pitch) Rx(roll))."""
    t = _vector3(translation, "translation")
    angles = _vector3([roll, pitch, yaw], "roll/pitch/yaw")
    return _assemble(euler2mat(*angles, axes="sxyz"), t)


def invert_transform(transform: np.ndarray) -> np.ndarray:
    """Inverse of a rigid 4x4 transform (T_a_b -> T_b_a)."""
    rotation, translation = transform[:3, :3], transform[:3, 3]
    return _assemble(rotation.T, -rotation.T @ translation)
