"""Writing sensor bags: camera image + CameraInfo + LiDAR cloud (+ ground-truth depth) per frame.

A bag written here has, per frame at ``rate_hz``: ``sensor_msgs/Image`` (rgb8) and
``sensor_msgs/CameraInfo`` stamped t in the camera optical frame, ``sensor_msgs/PointCloud2``
stamped ``t + lidar_offset`` (default 3 ms: the pairing decides a frame
as soon as its cloud arrives) in the LiDAR frame, and, for synthetic scenes or ``--holdout``, a 32FC1
ground-truth depth Image (NaN where there is none, REP 118). The static LiDAR -> camera extrinsic
goes into ``/tf_static`` (tf2_msgs/TFMessage, which the node reads through tf2_ros where it is
installed) and into a node parameter file beside the bag (``<bag>.params.yaml``).
Log time = header stamp.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
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
from nlspn_ros.geometry import CameraModel, invert_transform, load_kitti_calib, project_to_depth

START_NS = 1_700_000_000 * 1_000_000_000  # fixed, so bags are reproducible


@dataclass(frozen=True)
class BagTopicNames:
    image: str = "/camera/image"
    camera_info: str = "/camera/camera_info"
    points: str = "/lidar/points"
    ground_truth: str = "/camera/ground_truth_depth"
    tf_static: str = "/tf_static"


@dataclass
class SensorFrame:
    """One camera frame with its LiDAR sweep: ``points`` Nx3 float32 in the LiDAR frame."""

    name: str
    rgb: np.ndarray
    points: np.ndarray
    camera: CameraModel
    t_cam_lidar: np.ndarray
    ground_truth: np.ndarray | None = None


@dataclass
class BagSummary:
    path: Path
    params_file: Path
    frames: list[str] = field(default_factory=list)
    stamps_ns: list[int] = field(default_factory=list)
    t_cam_lidar: np.ndarray | None = None


def kitti_frames(kitti_dir: Path, names: Iterable[str] | None = None) -> Iterator[SensorFrame]:
    """Frames of the KITTI object layout (image_2/*.png, velodyne/*.bin, calib/*.txt)."""
    kitti_dir = Path(kitti_dir)
    names = sorted(p.stem for p in (kitti_dir / "image_2").glob("*.png")) if names is None else list(names)
    if not names:
        raise FileNotFoundError(f"no KITTI frames (image_2/*.png) in {kitti_dir}")
    for name in names:
        bgr = cv2.imread(str(kitti_dir / "image_2" / f"{name}.png"), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"cannot read {kitti_dir / 'image_2' / (name + '.png')}")
        scan = np.fromfile(kitti_dir / "velodyne" / f"{name}.bin", dtype="<f4")
        if scan.size % 4:
            raise ValueError(f"{name}.bin: {scan.size} floats is not N x (x, y, z, reflectance)")
        height, width = bgr.shape[:2]
        calib = kitti_dir / "calib" / f"{name}.txt"
        camera, t_cam_lidar = load_kitti_calib(calib, image_size=(width, height))
        yield SensorFrame(name, np.ascontiguousarray(bgr[..., ::-1]), scan.reshape(-1, 4)[:, :3].copy(),
                          camera, t_cam_lidar)


def synthetic_frames(count: int, width: int, height: int, seed: int = 0) -> Iterator[SensorFrame]:
    """Rendered scenes with exact ground-truth depth (:func:`nlspn_ros.data.synthetic.render_frame`)."""
    from nlspn_ros.data.synthetic import render_frame

    for index in range(count):
        frame = render_frame(seed + index, width, height)
        yield SensorFrame(f"synthetic_{seed + index:04d}", frame.rgb, frame.points[:, :3], frame.camera,
                          frame.T_cam_lidar, frame.depth_gt)


def hold_out_points(frames: Iterable[SensorFrame], fraction: float, seed: int = 0) -> Iterator[SensorFrame]:
    """Move ``fraction`` of each frame's LiDAR points (drawn with rng([seed, frame index])) out of the
    cloud into a sparse ground-truth depth image: a reference the completer never sees (KITTI has no
    dense ground truth)."""
    for index, frame in enumerate(frames):
        held_out = np.random.default_rng([seed, index]).random(len(frame.points)) < fraction
        truth = project_to_depth(frame.points[held_out], frame.t_cam_lidar, frame.camera)
        kept = frame.points[~held_out]
        yield SensorFrame(frame.name, frame.rgb, kept, frame.camera, frame.t_cam_lidar, truth)


def params_file_for(bag: Path) -> Path:
    return bag.with_name(bag.name + ".params.yaml")


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
            stamp = start_ns + index * period_ns
            points = np.asarray(frame.points, dtype=np.float32)
            if summary.t_cam_lidar is None:
                summary.t_cam_lidar = np.asarray(frame.t_cam_lidar, dtype=np.float64)
                bag.write(topics.tf_static, tf_message(summary.t_cam_lidar, camera_frame, lidar_frame, stamp),
                          stamp)
            elif not np.allclose(frame.t_cam_lidar, summary.t_cam_lidar, atol=1e-12):
                relative = invert_transform(summary.t_cam_lidar) @ frame.t_cam_lidar
                points = (points.astype(np.float64) @ relative[:3, :3].T + relative[:3, 3]).astype(np.float32)
            if frame.ground_truth is not None:
                # REP 118: NaN where there is no ground truth (the frames use 0, the model's convention;
                # depth_image_proc and RViz would draw 0.0 as points at the camera origin)
                gt = np.asarray(frame.ground_truth, dtype=np.float32)
                gt = np.where(gt > 0, gt, np.float32(np.nan)).astype(np.float32, copy=False)
                bag.write(topics.ground_truth, image_msg(gt, "32FC1", stamp, camera_frame), stamp)
            bag.write(topics.image, image_msg(frame.rgb, "rgb8", stamp, camera_frame), stamp)
            bag.write(topics.camera_info, camera_info_msg(frame.camera, stamp, camera_frame), stamp)
            cloud_stamp = stamp + int(lidar_offset_ms * 1e6)
            bag.write(topics.points, cloud_msg(points, cloud_stamp, lidar_frame), cloud_stamp)
            summary.frames.append(frame.name)
            summary.stamps_ns.append(stamp)
    if summary.t_cam_lidar is None:
        raise ValueError(f"no frames written to {path}")
    write_params(summary.params_file, summary.t_cam_lidar, camera_frame, lidar_frame)
    return summary
