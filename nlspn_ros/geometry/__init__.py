"""LiDAR-to-camera geometry (ROS-free, numpy/OpenCV): camera models, calibration, projection.

See docs/geometry.md for the conventions (optical frame, pixel centres, rectified vs raw).
"""
from nlspn_ros.geometry.camera import CalibrationError, CameraModel
from nlspn_ros.geometry.extrinsics import (
    invert_transform,
    transform_from_matrix,
    transform_from_quaternion,
    transform_from_rpy,
)
from nlspn_ros.geometry.kitti import load_kitti_calib
from nlspn_ros.geometry.motion import ConstantVelocity
from nlspn_ros.geometry.projection import Projection, ProjectionStats, project_points, project_to_depth

__all__ = [
    "CalibrationError",
    "CameraModel",
    "ConstantVelocity",
    "Projection",
    "ProjectionStats",
    "invert_transform",
    "load_kitti_calib",
    "project_points",
    "project_to_depth",
    "transform_from_matrix",
    "transform_from_quaternion",
    "transform_from_rpy",
]
