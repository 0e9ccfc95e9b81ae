"""Sensor frames: one camera image with its LiDAR sweep, from KITTI or the synthetic renderer.

What ``make-bag``, the demo and the tests write into bags, and the self-supervised references
(held-out points or rings) that go with them. ROS-free.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nlspn_ros.data.holdout import held_out_rings, kitti_rings, ring_target
from nlspn_ros.data.kitti import KittiFrame, read_kitti, read_object_layout, read_raw_drive
from nlspn_ros.data.synthetic import render_frame
from nlspn_ros.geometry import CameraModel, project_to_depth


@dataclass
class SensorFrame:
    """One camera frame with its LiDAR sweep: ``points`` Nx3 float32 in the LiDAR frame.

    Optional: recorded stamps (ns), per-point ``intensity`` (float32) and ``rings`` (laser index),
    the vehicle ``pose`` (4x4 world <- vehicle) with its stamp and the LiDAR's mount on the vehicle
    (``t_vehicle_lidar``, LiDAR -> vehicle).
    """

    name: str
    rgb: np.ndarray
    points: np.ndarray
    camera: CameraModel
    t_cam_lidar: np.ndarray
    ground_truth: np.ndarray | None = None
    camera_stamp_ns: int | None = None
    lidar_stamp_ns: int | None = None
    intensity: np.ndarray | None = None
    rings: np.ndarray | None = None
    pose: np.ndarray | None = None
    pose_stamp_ns: int | None = None
    t_vehicle_lidar: np.ndarray | None = None

    def select(self, mask: np.ndarray) -> SensorFrame:
        """The same frame with only the points of ``mask`` (their intensities and rings too)."""
        return replace(self, points=self.points[mask],
                       intensity=None if self.intensity is None else self.intensity[mask],
                       rings=None if self.rings is None else self.rings[mask])


def sensor_frame(frame: KittiFrame) -> SensorFrame:
    """A KITTI frame as a bag frame: stamps, reflectance as intensity, rings from the sweep order."""
    return SensorFrame(
        frame.name, frame.rgb, np.ascontiguousarray(frame.points[:, :3]), frame.camera, frame.t_cam_lidar,
        camera_stamp_ns=frame.camera_stamp_ns, lidar_stamp_ns=frame.lidar_stamp_ns,
        intensity=np.ascontiguousarray(frame.points[:, 3]), rings=kitti_rings(frame.points),
        pose=frame.pose, pose_stamp_ns=frame.pose_stamp_ns, t_vehicle_lidar=frame.t_imu_lidar,
    )


def kitti_frames(kitti_dir: Path, names: Iterable[str] | None = None) -> Iterator[SensorFrame]:
    """Frames of a KITTI folder: object layout (``names``: frame names), raw drive (``names``: frame
    numbers) or odometry root (every sequence; ``names`` not supported)."""
    kitti_dir = Path(kitti_dir)
    if names is None:
        frames = read_kitti(kitti_dir)
    elif (kitti_dir / "velodyne_points").is_dir():
        frames = read_raw_drive(kitti_dir, [int(name) for name in names])
    else:
        frames = read_object_layout(kitti_dir, names)
    for frame in frames:
        yield sensor_frame(frame)


def synthetic_frames(count: int, width: int, height: int, seed: int = 0) -> Iterator[SensorFrame]:
    """Rendered scenes with exact ground-truth depth (:func:`nlspn_ros.data.synthetic.render_frame`)."""
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
        yield replace(frame.select(~held_out), ground_truth=truth)


def hold_out_rings(frames: Iterable[SensorFrame], parity: int = 1) -> Iterator[SensorFrame]:
    """Protocol B in a bag: the rings of ``parity`` (default: the odd ones) leave the cloud and become
    the ground-truth depth, without the pixels the remaining rings also hit."""
    for frame in frames:
        if frame.rings is None:
            raise ValueError(f"frame {frame.name}: no laser rings known, cannot hold out rings")
        held = held_out_rings(frame.rings, parity)
        kept = frame.select(~held)
        seen = project_to_depth(kept.points, frame.t_cam_lidar, frame.camera)
        truth = ring_target(seen, project_to_depth(frame.points[held], frame.t_cam_lidar, frame.camera))
        yield replace(kept, ground_truth=truth)
