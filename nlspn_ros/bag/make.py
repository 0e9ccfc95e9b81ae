"""Writing sensor bags: camera image + CameraInfo + LiDAR cloud (+ ground-truth depth) per frame.

A bag written here has, per frame: ``sensor_msgs/Image`` (rgb8) and ``sensor_msgs/CameraInfo`` in
the camera optical frame, ``sensor_msgs/PointCloud2`` in the LiDAR frame and, for synthetic scenes
or a held-out share of the LiDAR, a 32FC1 ground-truth depth Image (NaN where there is none,
REP 118). Frames with recorded stamps (KITTI raw drives) keep them: the image at the camera's
stamp, the cloud at the sweep's; others get stamps at ``rate_hz`` with the cloud ``lidar_offset``
later (default 3 ms: the pairing decides a frame as soon as its cloud arrives). Clouds carry x, y,
z and, where known, ``intensity`` (float32) and ``ring`` (uint16), the layout of the usual Velodyne
drivers. The static LiDAR -> camera extrinsic goes into ``/tf_static`` (tf2_msgs/TFMessage, which
the node reads through tf2_ros where it is installed) and into a node parameter file beside the
bag (``<bag>.params.yaml``); frames with a vehicle pose (KITTI OXTS) add ``world -> imu_link`` on
``/tf`` and the static ``imu_link -> camera`` link. Log time = header stamp.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nlspn_ros.bag.writer import (
    CAMERA_FRAME,
    LIDAR_FRAME,
    BagWriter,
    camera_info_msg,
    cloud_msg,
    image_msg,
    tf_message,
)
from nlspn_ros.data.sensor_frames import SensorFrame
from nlspn_ros.geometry import invert_transform

START_NS = 1_700_000_000 * 1_000_000_000  # fixed, so bags are reproducible


@dataclass(frozen=True)
class BagTopicNames:
    image: str = "/camera/image"
    camera_info: str = "/camera/camera_info"
    points: str = "/lidar/points"
    ground_truth: str = "/camera/ground_truth_depth"
    tf_static: str = "/tf_static"
    tf: str = "/tf"


WORLD_FRAME = "world"
VEHICLE_FRAME = "imu_link"


@dataclass
class BagSummary:
    path: Path
    params_file: Path
    frames: list[str] = field(default_factory=list)
    stamps_ns: list[int] = field(default_factory=list)
    t_cam_lidar: np.ndarray | None = None


def params_file_for(bag: Path) -> Path:
    return bag.with_name(bag.name + ".params.yaml")


def params_beside(bag: str | Path) -> list[Path]:
    """The node parameter file make-bag wrote beside ``bag``, when there is one (the default of
    ``evaluate`` and of training on a bag)."""
    file = params_file_for(Path(bag))
    return [file] if file.is_file() else []


def write_params(path: Path, t_cam_lidar: np.ndarray, camera_frame: str, lidar_frame: str) -> None:
    """Node parameters for this bag (YAML; JSON flow style keeps the floats exact)."""
    params = {
        "t_cam_lidar": [float(v) for v in np.asarray(t_cam_lidar, dtype=np.float64).ravel()],
        "camera_frame": camera_frame,
        "lidar_frame": lidar_frame,
    }
    text = "# Written by `nlspn_ros make-bag`: the calibration of the bag beside this file.\n"
    text += "/**:\n  ros__parameters:\n"
    text += "".join(f"    {key}: {json.dumps(value)}\n" for key, value in params.items())
    path.write_text(text)


def write_sensor_bag(path: str | Path, frames: Iterable[SensorFrame], *, storage: str = "mcap",
                     rate_hz: float = 10.0, lidar_offset_ms: float = 3.0,
                     topics: BagTopicNames = BagTopicNames(), camera_frame: str = CAMERA_FRAME,
                     lidar_frame: str = LIDAR_FRAME, start_ns: int = START_NS) -> BagSummary:
    """Write ``frames`` as a rosbag2; the first frame's extrinsic is the bag's static one.

    A later frame with another extrinsic (KITTI frames of different drives) has its cloud re-expressed
    in the first frame's LiDAR frame (``inv(T0) @ Ti``), so projecting with the static extrinsic gives
    exactly the points' true pixels and depths.
    """
    path = Path(path)
    summary = BagSummary(path, params_file_for(path))
    period_ns = int(round(1e9 / rate_hz))
    with BagWriter(path, storage) as bag:
        for index, frame in enumerate(frames):
            stamp = (frame.camera_stamp_ns if frame.camera_stamp_ns is not None
                     else start_ns + index * period_ns)
            cloud_stamp = (frame.lidar_stamp_ns if frame.lidar_stamp_ns is not None
                           else stamp + int(lidar_offset_ms * 1e6))
            points = np.asarray(frame.points, dtype=np.float32)
            if summary.t_cam_lidar is None:
                summary.t_cam_lidar = np.asarray(frame.t_cam_lidar, dtype=np.float64)
                first = min(stamp, cloud_stamp)
                statics = [(summary.t_cam_lidar, camera_frame, lidar_frame)]
                if frame.pose is not None and frame.t_vehicle_lidar is not None:
                    t_vehicle_camera = frame.t_vehicle_lidar @ invert_transform(summary.t_cam_lidar)
                    statics.append((t_vehicle_camera, VEHICLE_FRAME, camera_frame))
                bag.write(topics.tf_static, tf_message(statics, first), first)
            elif not np.allclose(frame.t_cam_lidar, summary.t_cam_lidar, atol=1e-12):
                relative = invert_transform(summary.t_cam_lidar) @ frame.t_cam_lidar
                points = (points.astype(np.float64) @ relative[:3, :3].T + relative[:3, 3]).astype(np.float32)
            messages = [
                (stamp, topics.image, image_msg(frame.rgb, "rgb8", stamp, camera_frame)),
                (stamp, topics.camera_info, camera_info_msg(frame.camera, stamp, camera_frame)),
                (cloud_stamp, topics.points,
                 cloud_msg(points, cloud_stamp, lidar_frame, intensity=frame.intensity, rings=frame.rings)),
            ]
            if frame.ground_truth is not None:
                # REP 118: NaN where there is no ground truth (the frames use 0, the model's convention;
                # depth_image_proc and RViz would draw 0.0 as points at the camera origin)
                gt = np.asarray(frame.ground_truth, dtype=np.float32)
                gt = np.where(gt > 0, gt, np.float32(np.nan)).astype(np.float32, copy=False)
                messages.insert(0, (stamp, topics.ground_truth, image_msg(gt, "32FC1", stamp, camera_frame)))
            if frame.pose is not None:
                pose_stamp = frame.pose_stamp_ns if frame.pose_stamp_ns is not None else stamp
                messages.append((pose_stamp, topics.tf,
                                 tf_message([(frame.pose, WORLD_FRAME, VEHICLE_FRAME)], pose_stamp)))
            for log_time, topic, msg in sorted(messages, key=lambda m: m[0]):
                bag.write(topic, msg, log_time)
            summary.frames.append(frame.name)
            summary.stamps_ns.append(stamp)
    if summary.t_cam_lidar is None:
        raise ValueError(f"no frames written to {path}")
    write_params(summary.params_file, summary.t_cam_lidar, camera_frame, lidar_frame)
    return summary
