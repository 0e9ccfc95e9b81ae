"""Real KITTI data: the layout readers (against the hand-checked values of the shared SOURCES.md
files), the holdout protocols A and B on real sweeps, and bags made from a raw drive."""

from __future__ import annotations

import os
import re
import shutil

import numpy as np
import pytest

from nlspn_ros.data.holdout import (
    held_out_rings,
    kitti_rings,
    near_phantom_share,
    pixel_holdout,
)
from nlspn_ros.data.kitti import (
    dc_crop_box,
    layout_of,
    parse_stamp,
    read_kitti,
    read_odometry_sequence,
    read_raw_drive,
)
from nlspn_ros.geometry import project_points
from nlspn_ros.offline.frame_evaluation import protocol_inputs


def sources_counts(raw_drive):
    """frame number -> (points in sweep, points projecting into image_02) from SOURCES.md."""
    text = (raw_drive.parents[1] / "SOURCES.md").read_text()
    rows = re.findall(r"\| (\d{10}) \| (\d+) \| (\d+) \|", text)
    assert len(rows) == 37
    return {int(n): (int(a), int(b)) for n, a, b in rows}


def landing_as_sources_md(frame):
    """SOURCES.md's rule: depth > 0 and 0 <= u < W, 0 <= v < H with u, v unrounded (float64)."""
    xyz = np.c_[frame.points[:, :3].astype(np.float64), np.ones(len(frame.points))]
    p = frame.camera.p @ frame.t_cam_lidar @ xyz.T
    depth = p[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u, v = p[0] / depth, p[1] / depth
    width, height = frame.camera.width, frame.camera.height
    return (depth > 0) & (u >= 0) & (u < width) & (v >= 0) & (v < height), depth


def test_raw_reader_matches_the_hand_checked_values(raw_drive):
    counts = sources_counts(raw_drive)
    frames = list(read_raw_drive(raw_drive))
    assert [int(f.name) for f in frames] == list(range(116, 153))
    first = frames[0]
    assert first.camera_stamp_ns == parse_stamp("2011-09-26 13:04:44.328077312")
    assert first.lidar_stamp_ns == parse_stamp("2011-09-26 13:04:44.317542613")
    assert first.pose_stamp_ns == parse_stamp("2011-09-26 13:04:44.330200076")
    assert first.camera_stamp_ns % 1_000_000_000 == 328077312
    assert first.rgb.shape == (375, 1242, 3) and first.rgb.dtype == np.uint8
    for frame in frames:
        lands, depth = landing_as_sources_md(frame)
        assert (len(frame.points), int(lands.sum())) == counts[int(frame.name)], frame.name
    lands, depth = landing_as_sources_md(first)
    assert depth[lands].min() == pytest.approx(3.84, abs=0.005)
    assert depth[lands].max() == pytest.approx(78.56, abs=0.005)
    # the package's own projection (pixel centres at integers, min depth 0.1 m) lands nearly the same
    stats = project_points(first.points, first.t_cam_lidar, first.camera).stats
    assert abs(stats.landed - 19304) < 100
    # stamps: 10 Hz, camera about 10 ms after the sweep faced forward
    camera = np.array([f.camera_stamp_ns for f in frames])
    assert np.all(np.abs(np.diff(camera) - 1e8) < 5e6)
    assert all(0 < f.camera_stamp_ns - f.lidar_stamp_ns < 20_000_000 for f in frames)


def test_raw_reader_poses_from_oxts(raw_drive):
    frames = list(read_raw_drive(raw_drive, [116, 126, 136]))
    poses = [f.pose for f in frames]
    np.testing.assert_allclose(poses[0][:3, 3], 0.0)  # the first packet read is the origin
    for pose in poses:
        np.testing.assert_allclose(pose[:3, :3] @ pose[:3, :3].T, np.eye(3), atol=1e-12)
    travelled = np.linalg.norm(poses[2][:3, 3] - poses[0][:3, 3])
    assert 1.0 < travelled < 40.0  # 2 s of a city drive
    assert frames[0].t_imu_lidar is not None


def _partial_copy(raw_drive, tmp_path, keep_timestamps: bool, keep_oxts: bool):
    """A drive folder of two frames (files linked from ../shared), without stamps and/or OXTS."""
    day = tmp_path / raw_drive.parent.name
    drive = day / raw_drive.name
    for name in ("calib_cam_to_cam.txt", "calib_velo_to_cam.txt"):
        day.mkdir(parents=True, exist_ok=True)
        os.symlink(raw_drive.parent / name, day / name)
    for sub, suffix in (("image_02", ".png"), ("velodyne_points", ".bin")):
        (drive / sub / "data").mkdir(parents=True)
        for number in (116, 117):
            os.symlink(
                raw_drive / sub / "data" / f"{number:010d}{suffix}",
                drive / sub / "data" / f"{number:010d}{suffix}",
            )
        if keep_timestamps:
            shutil.copy(raw_drive / sub / "timestamps.txt", drive / sub / "timestamps.txt")
    if keep_oxts:
        (drive / "oxts" / "data").mkdir(parents=True)
        os.symlink(raw_drive / "oxts" / "data" / "0000000116.txt", drive / "oxts" / "data" / "0000000116.txt")
    return drive


def test_raw_reader_without_timestamps_or_oxts(raw_drive, tmp_path):
    drive = _partial_copy(raw_drive, tmp_path, keep_timestamps=False, keep_oxts=True)  # one packet missing
    frames = list(read_raw_drive(drive))
    assert [f.name for f in frames] == ["0000000116", "0000000117"]
    assert all(f.camera_stamp_ns is None and f.lidar_stamp_ns is None and f.pose is None for f in frames)
    assert frames[0].t_imu_lidar is None  # no calib_imu_to_velo.txt in the copy
    assert layout_of(drive) == "raw"
    with pytest.raises(FileNotFoundError, match="frames"):
        list(read_raw_drive(drive, [118]))


def test_odometry_reader(raw_drive, tmp_path):
    """An odometry sequence written from two raw frames reads back with the same geometry."""
    frames = list(read_raw_drive(raw_drive, [116, 117]))
    sequence = tmp_path / "odometry" / "sequences" / "04"
    (sequence / "image_2").mkdir(parents=True)
    (sequence / "velodyne").mkdir()
    for index, number in enumerate((116, 117)):
        os.symlink(
            raw_drive / "image_02" / "data" / f"{number:010d}.png", sequence / "image_2" / f"{index:06d}.png"
        )
        os.symlink(
            raw_drive / "velodyne_points" / "data" / f"{number:010d}.bin",
            sequence / "velodyne" / f"{index:06d}.bin",
        )
    camera, t_cam_lidar = frames[0].camera, frames[0].t_cam_lidar
    p2 = camera.p.copy()
    p2[:, 3] = camera.k @ t_cam_lidar[:3, 3]  # P2 = K [I | t2]; Tr = the rest of the transform
    offset = np.eye(4)
    offset[:3, 3] = t_cam_lidar[:3, 3]
    tr = np.linalg.inv(offset) @ t_cam_lidar
    line = lambda a: " ".join(f"{v:.15e}" for v in np.ravel(a))  # noqa: E731
    (sequence / "calib.txt").write_text(f"P0: {line(camera.p)}\nP2: {line(p2)}\nTr: {line(tr[:3])}\n")
    (sequence / "times.txt").write_text("0.000000e+00\n1.037359e-01\n")
    (tmp_path / "odometry" / "poses").mkdir()
    (tmp_path / "odometry" / "poses" / "04.txt").write_text(f"{line(np.eye(4)[:3])}\n{line(np.eye(4)[:3])}\n")
    read = list(read_odometry_sequence(tmp_path / "odometry", 4))
    assert [f.name for f in read] == ["04_000000", "04_000001"]
    assert read[1].camera_stamp_ns == 103735900
    np.testing.assert_allclose(read[0].t_cam_lidar, t_cam_lidar, atol=1e-9)
    np.testing.assert_allclose(read[0].pose, tr, atol=1e-12)  # world <- LiDAR = cam0 pose @ Tr
    assert [f.name for f in read_kitti(tmp_path / "odometry")] == ["04_000000", "04_000001"]


def test_kitti_rings_recover_64_lasers_top_first(raw_drive):
    (frame,) = read_raw_drive(raw_drive, [116])
    rings = kitti_rings(frame.points)
    assert rings.min() == 0 and rings.max() == 63
    assert np.all(np.diff(rings) >= 0)  # the file is ring by ring
    elevation = np.degrees(np.arctan2(frame.points[:, 2], np.hypot(frame.points[:, 0], frame.points[:, 1])))
    medians = np.array([np.median(elevation[rings == r]) for r in range(64)])
    assert np.all(np.diff(medians) < 0)  # top laser first, each ring lower than the last
    assert medians[0] == pytest.approx(2.0, abs=0.7) and medians[-1] == pytest.approx(-24.3, abs=1.0)
    assert np.bincount(rings).min() > 500


def test_protocol_b_never_scores_an_input_ring(raw_drive):
    (frame,) = read_raw_drive(raw_drive, [120])
    rgb, kept, target = protocol_inputs(frame, "rings", 0)
    assert rgb.shape == (352, 1216, 3) and kept.shape == target.shape == (352, 1216)
    assert not np.any((kept > 0) & (target > 0))
    held = held_out_rings(kitti_rings(frame.points), 1)
    x, y, w, h = dc_crop_box(1242, 375)
    even = project_points(frame.points[~held], frame.t_cam_lidar, frame.camera).depth[y : y + h, x : x + w]
    odd = project_points(frame.points[held], frame.t_cam_lidar, frame.camera).depth[y : y + h, x : x + w]
    np.testing.assert_array_equal(kept, even)
    # every target is an odd-ring depth; no target pixel was hit by an even ring
    assert np.all(target[target > 0] == odd[target > 0]) and not np.any(even[target > 0])
    assert 0.3 < (target > 0).sum() / (kept > 0).sum() < 1.1


def test_protocol_a_holds_out_a_seeded_share(raw_drive):
    (frame,) = read_raw_drive(raw_drive, [120])
    _, kept, target = protocol_inputs(frame, "pixels", 3)
    _, again, _ = protocol_inputs(frame, "pixels", 3)
    _, other, _ = protocol_inputs(frame, "pixels", 4)
    np.testing.assert_array_equal(kept, again)
    assert not np.array_equal(kept, other)
    assert not np.any((kept > 0) & (target > 0))
    share = (target > 0).sum() / ((target > 0).sum() + (kept > 0).sum())
    assert share == pytest.approx(0.2, abs=0.02)
    with pytest.raises(ValueError, match="share"):
        pixel_holdout(kept, 1.0, np.random.default_rng(0))


def test_near_phantom_share():
    target = np.array([[10.0, 10.0, 10.0, 0.0, 10.0]])
    prediction = np.array([[4.0, 6.0, 0.0, 1.0, np.nan]])  # phantom, fine, no estimate, no target, NaN
    assert near_phantom_share(prediction, target) == pytest.approx(0.25)
    assert np.isnan(near_phantom_share(prediction, np.zeros_like(target)))


def test_make_bag_from_a_raw_drive_keeps_the_recorded_stamps(raw_drive, tmp_path):
    import subprocess
    import sys

    from nlspn_ros.bag.reader import BagReader
    from nlspn_ros.bag.topics import detect_topics
    from nlspn_ros.pipeline.conversions import cloud_to_xyz, stamp_to_ns

    from ros_util import REPO_ROOT

    out = tmp_path / "drive"
    command = [
        sys.executable,
        "-m",
        "nlspn_ros.cli",
        "make-bag",
        str(out),
        "--kitti",
        str(raw_drive),
        "--frames",
        "116",
        "117",
        "118",
        "--holdout-rings",
    ]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    reader = BagReader(out)
    topics = detect_topics(reader.topics)
    messages = list(reader.messages())
    frames = list(read_raw_drive(raw_drive, [116, 117, 118]))
    images = [m for m in messages if m.topic == topics.image]
    clouds = [m for m in messages if m.topic == topics.points]
    assert [stamp_to_ns(m.msg.header.stamp) for m in images] == [f.camera_stamp_ns for f in frames]
    assert [stamp_to_ns(m.msg.header.stamp) for m in clouds] == [f.lidar_stamp_ns for f in frames]
    assert all(m.log_time_ns == stamp_to_ns(m.msg.header.stamp) for m in images + clouds)
    assert [m.log_time_ns for m in messages] == sorted(m.log_time_ns for m in messages)
    # full sweeps minus the held-out odd rings, with intensity and ring fields
    cloud = clouds[0].msg
    assert [f.name for f in cloud.fields] == ["x", "y", "z", "intensity", "ring"]
    rings = kitti_rings(frames[0].points)
    even = frames[0].points[rings % 2 == 0]
    np.testing.assert_array_equal(cloud_to_xyz(cloud), even[:, :3])
    ring_offset = next(f.offset for f in cloud.fields if f.name == "ring")
    ring_values = np.frombuffer(cloud.data.tobytes(), np.uint8).reshape(-1, cloud.point_step)[
        :, ring_offset : ring_offset + 2
    ]
    assert set(np.unique(ring_values.copy().view("<u2"))) == set(range(0, 64, 2))
    # ground truth: the odd rings, never where an even ring landed
    truth = next(m.msg for m in messages if m.topic == topics.ground_truth)
    from nlspn_ros.pipeline.conversions import depth_image_to_metres

    reference = np.nan_to_num(depth_image_to_metres(truth))
    seen = project_points(even, frames[0].t_cam_lidar, frames[0].camera).depth
    assert reference.any() and not np.any((reference > 0) & (seen > 0))
    # TF: static camera -> LiDAR and IMU -> camera, the OXTS pose per frame on /tf
    static = next(m.msg for m in messages if m.topic == "/tf_static").transforms
    assert [(t.header.frame_id, t.child_frame_id) for t in static] == [
        ("camera_optical_frame", "velodyne"),
        ("imu_link", "camera_optical_frame"),
    ]
    poses = [m for m in messages if m.topic == "/tf"]
    assert [stamp_to_ns(m.msg.transforms[0].header.stamp) for m in poses] == [f.pose_stamp_ns for f in frames]
    assert (poses[0].msg.transforms[0].header.frame_id, poses[0].msg.transforms[0].child_frame_id) == (
        "world",
        "imu_link",
    )


def test_evaluate_a_bag_with_ring_fields_under_protocol_b(raw_drive, tmp_path):
    """A bag with full sweeps (ring field, no ground-truth topic): `evaluate --protocol rings` scores
    the odd rings, exactly as the ring holdout written into a bag by make-bag."""
    from nlspn_ros.bag.make import write_sensor_bag
    from nlspn_ros.completion.ip_basic import IPBasicCompleter
    from nlspn_ros.data.sensor_frames import hold_out_rings, kitti_frames
    from nlspn_ros.offline.bag_report import evaluate_bag

    full = write_sensor_bag(tmp_path / "full", kitti_frames(raw_drive, ["116", "117"]))
    held = write_sensor_bag(tmp_path / "held", hold_out_rings(kitti_frames(raw_drive, ["116", "117"])))
    completer = IPBasicCompleter()
    on_full = evaluate_bag(full.path, params=[full.params_file], protocol="rings", completer=completer,
                           progress=False)
    on_held = evaluate_bag(held.path, params=[held.params_file], completer=completer, progress=False)
    assert on_full.reference.startswith("held-out laser rings") and len(on_full.frames) == 2
    for a, b in zip(on_full.frames, on_held.frames, strict=True):
        assert a.reference_pixels == b.reference_pixels > 1000
        assert a.metrics == pytest.approx(b.metrics, rel=1e-9, nan_ok=True)
    pixels = evaluate_bag(full.path, params=[full.params_file], completer=completer, progress=False)
    assert pixels.reference.startswith("held-out LiDAR pixels")
