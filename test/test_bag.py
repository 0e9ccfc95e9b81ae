"""Bag tools core (no ROS graph): make-bag, streaming reader, damage handling, topic detection, evaluate."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

from nlspn_ros.bag.errors import BagDamagedError, BagError
from nlspn_ros.bag.make import BagTopicNames, params_file_for, write_sensor_bag
from nlspn_ros.bag.reader import BagReader
from nlspn_ros.bag.topics import detect_topics
from nlspn_ros.bag.types import typestore
from nlspn_ros.bag.writer import BagWriter, camera_info_msg, image_msg
from nlspn_ros.completion.ip_basic import IPBasicCompleter
from nlspn_ros.data.holdout import holdout_split, near_phantom_share
from nlspn_ros.data.sensor_frames import SensorFrame, hold_out_points, kitti_frames
from nlspn_ros.geometry import CameraModel, project_to_depth
from nlspn_ros.metrics import depth_metrics
from nlspn_ros.offline.bag_evaluation import Evaluator
from nlspn_ros.offline.bag_report import evaluate_bag
from nlspn_ros.pipeline.conversions import depth_image_to_metres, image_to_array, stamp_to_ns
from nlspn_ros.pipeline.param_files import settings_from_files

from ros_util import REPO_ROOT

WIDTH, HEIGHT = 64, 40
CAMERA = CameraModel.pinhole(WIDTH, HEIGHT, fx=40.0, fy=40.0, cx=31.5, cy=19.5)
# LiDAR (x forward, y left, z up) 0.1 m below the camera.
T_CAM_LIDAR = np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.1], [1.0, 0.0, 0.0, 0.0], [0, 0, 0, 1.0]])


def scene(index: int) -> SensorFrame:
    """A fronto-parallel wall at 5 + index metres: LiDAR grid on it, exact dense ground truth."""
    rng = np.random.default_rng(index)
    depth = 5.0 + index
    y, z = np.meshgrid(np.linspace(-3, 3, 40), np.linspace(-1.5, 2.0, 24))
    points = np.stack([np.full(y.size, depth), y.ravel(), z.ravel()], axis=1).astype(np.float32)
    rgb = rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    truth = np.full((HEIGHT, WIDTH), depth, np.float32)
    return SensorFrame(f"wall_{index}", rgb, points, CAMERA, T_CAM_LIDAR, truth)


def make_bag(path: Path, frames: int = 5, storage: str = "mcap") -> Path:
    write_sensor_bag(path, (scene(i) for i in range(frames)), storage=storage)
    return path


def ip_basic_settings(bag: Path):
    return settings_from_files(params_file_for(bag), method="ip_basic")


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_written_bag_has_types_stamps_frames_and_calibration(tmp_path, storage):
    bag = make_bag(tmp_path / "bag", frames=3, storage=storage)
    reader = BagReader(bag)
    names = BagTopicNames()
    assert reader.topics == {
        names.image: "sensor_msgs/msg/Image", names.camera_info: "sensor_msgs/msg/CameraInfo",
        names.points: "sensor_msgs/msg/PointCloud2", names.ground_truth: "sensor_msgs/msg/Image",
        names.tf_static: "tf2_msgs/msg/TFMessage",
    }
    messages = list(reader.messages())
    times = [m.log_time_ns for m in messages]
    assert times == sorted(times)
    images = [m.msg for m in messages if m.topic == names.image]
    stamps = [stamp_to_ns(m.header.stamp) for m in images]
    assert np.diff(stamps).tolist() == [100_000_000, 100_000_000]  # 10 Hz
    assert {m.header.frame_id for m in images} == {"camera_optical_frame"}
    clouds = [m.msg for m in messages if m.topic == names.points]
    assert {m.header.frame_id for m in clouds} == {"velodyne"}
    assert [stamp_to_ns(c.header.stamp) - s for c, s in zip(clouds, stamps, strict=True)] == [3_000_000] * 3
    info = next(m.msg for m in messages if m.topic == names.camera_info)
    assert CameraModel.from_camera_info(info).p.tolist() == CAMERA.p.tolist()
    tf = next(m.msg for m in messages if m.topic == names.tf_static).transforms[0]
    assert (tf.header.frame_id, tf.child_frame_id) == ("camera_optical_frame", "velodyne")
    assert [tf.transform.translation.y, tf.transform.rotation.w] == pytest.approx([0.1, 0.5])
    settings = settings_from_files(params_file_for(bag))
    np.testing.assert_array_equal(settings.extrinsic, T_CAM_LIDAR)
    truth = next(m.msg for m in messages if m.topic == names.ground_truth)
    assert depth_image_to_metres(truth) == pytest.approx(np.full((HEIGHT, WIDTH), 5.0))


def test_make_bag_cli_from_kitti_is_readable_by_rosbags_and_keeps_geometry(tmp_path, kitti_dir):
    out = tmp_path / "kitti"
    command = ["make-bag", str(out), "--kitti", str(kitti_dir), "--frames", "000000", "--storage", "sqlite3",
               "--holdout", "0.2"]
    result = subprocess.run([sys.executable, "-m", "nlspn_ros.cli", *command], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    from rosbags.highlevel import AnyReader

    with AnyReader([out], default_typestore=typestore()) as reader:  # an independent reader
        counts = {c.topic: c.msgcount for c in reader.connections}
        cloud = next(reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages()
                     if c.topic == "/lidar/points")
        truth = next(reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages()
                     if c.topic == "/camera/ground_truth_depth")
    assert counts == {"/tf_static": 1, "/camera/image": 1, "/camera/camera_info": 1, "/lidar/points": 1,
                      "/camera/ground_truth_depth": 1}
    (frame,) = kitti_frames(kitti_dir, ["000000"])
    (held,) = hold_out_points([frame], 0.2)
    assert cloud.width == len(held.points) and 0.75 < cloud.width / len(frame.points) < 0.85
    assert (held.ground_truth > 0).sum() > 3000  # ~20% of the ~20k projected points
    # the topic follows REP 118 (NaN = no value: depth_image_proc and RViz take 0.0 as a depth)
    values = image_to_array(truth)
    assert truth.encoding == "32FC1" and not (values == 0).any()
    np.testing.assert_array_equal(np.nan_to_num(values, nan=0.0), held.ground_truth)


@pytest.mark.parametrize("compressed", [False, True])
def test_bag_written_by_rosbags_directly_is_evaluated(tmp_path, compressed):
    """Foreign bag: bgr8 image with row padding (or, as recorders often keep only that, the
    image_transport png CompressedImage), cloud with an extra field, other topic names."""
    store = typestore()
    types = store.types
    path = tmp_path / "foreign"
    writer = Writer(path, version=8, storage_plugin=StoragePlugin.SQLITE3)
    expected = []
    image_type, image_topic = ("CompressedImage", "/cam/image_raw/compressed") if compressed else (
        "Image", "/cam/image_raw")
    with writer:
        conns = {name: writer.add_connection(topic, f"sensor_msgs/msg/{name}", typestore=store)
                 for name, topic in ((image_type, image_topic), ("CameraInfo", "/cam/camera_info"),
                                     ("PointCloud2", "/velodyne_points"))}
        for i in range(3):
            frame = scene(i)
            stamp = 10**18 + i * 50_000_000
            header = types["std_msgs/msg/Header"](
                stamp=types["builtin_interfaces/msg/Time"](sec=stamp // 10**9, nanosec=stamp % 10**9),
                frame_id="cam")
            padded = np.zeros((HEIGHT, WIDTH * 3 + 8), np.uint8)
            padded[:, : WIDTH * 3] = frame.rgb[..., ::-1].reshape(HEIGHT, -1)
            image = types["sensor_msgs/msg/Image"](header=header, height=HEIGHT, width=WIDTH, encoding="bgr8",
                                                   is_bigendian=0, step=WIDTH * 3 + 8, data=padded.ravel())
            if compressed:
                png = cv2.imencode(".png", np.ascontiguousarray(frame.rgb[..., ::-1]))[1].ravel()
                image = types["sensor_msgs/msg/CompressedImage"](
                    header=header, format="bgr8; png compressed bgr8", data=png)
            fields = CAMERA.to_camera_info_fields()
            roi = types["sensor_msgs/msg/RegionOfInterest"](**fields.pop("roi"))
            info = types["sensor_msgs/msg/CameraInfo"](
                header=header, roi=roi, **{k: np.asarray(fields.pop(k), float) for k in "dkrp"}, **fields)
            xyzi = np.zeros(len(frame.points), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("i", "<f4")])
            for axis, name in enumerate("xyz"):
                xyzi[name] = frame.points[:, axis]
            point_field = types["sensor_msgs/msg/PointField"]
            cloud = types["sensor_msgs/msg/PointCloud2"](
                header=header, height=1, width=len(xyzi), is_bigendian=False, point_step=16,
                row_step=16 * len(xyzi), is_dense=True, data=xyzi.view(np.uint8),
                fields=[point_field(name=n, offset=4 * k, datatype=7, count=1) for k, n in enumerate("xyzi")])
            for name, msg in ((image_type, image), ("CameraInfo", info), ("PointCloud2", cloud)):
                writer.write(conns[name], stamp, store.serialize_cdr(msg, msg.__msgtype__))
            sparse = project_to_depth(frame.points, T_CAM_LIDAR, CAMERA)
            kept, reference = holdout_split(sparse, 0.2, 0, stamp)
            dense = IPBasicCompleter(max_depth=100.0).complete(frame.rgb, kept).depth
            masked = np.where((dense >= 0.1) & (dense <= 100), dense, 0)
            expected.append({**depth_metrics(masked, reference),
                             "near_phantom": near_phantom_share(masked, reference)})
    settings = settings_from_files(method="ip_basic", t_cam_lidar=T_CAM_LIDAR.ravel().tolist())
    result = Evaluator(path, completer=IPBasicCompleter(max_depth=100.0), settings=settings).run()
    assert result.topics["image"] == image_topic and result.topics["points"] == "/velodyne_points"
    assert result.reference.startswith("held-out LiDAR")
    assert len(result.frames) == 3 and result.error is None
    for frame, metrics in zip(result.frames, expected, strict=True):
        assert frame.metrics == pytest.approx(metrics, abs=1e-9)


def test_evaluate_cli_writes_json_table_and_panels(tmp_path):
    bag = make_bag(tmp_path / "bag", frames=2)
    out = tmp_path / "eval"
    command = ["evaluate", str(bag), "--method", "ip_basic", "-o", str(out), "--panels"]
    result = subprocess.run([sys.executable, "-m", "nlspn_ros.cli", *command], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ground truth topic /camera/ground_truth_depth" in result.stdout and "mean" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    stamps = [f["image_stamp_ns"] for f in metrics["frames"]]
    assert stamps == [1_700_000_000 * 10**9 + i * 10**8 for i in (0, 1)]
    assert metrics["overall"]["RMSE"] < 1.0  # a flat wall is easy
    assert sorted(p.name for p in (out / "panels").iterdir()) == ["frame_0000.png", "frame_0001.png"]


def test_truncated_mcap_scores_the_frames_before_the_cut(tmp_path):
    bag = make_bag(tmp_path / "bag", frames=6)
    intact = Evaluator(bag, completer=IPBasicCompleter(), settings=ip_basic_settings(bag)).run()
    storage = next(bag.glob("*.mcap"))
    data = storage.read_bytes()
    storage.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(BagDamagedError, match="truncated"):
        for _ in BagReader(bag).messages():
            pass
    result = Evaluator(bag, completer=IPBasicCompleter(), settings=ip_basic_settings(bag)).run()
    assert result.error is not None and "truncated" in result.error
    assert 1 <= len(result.frames) < 6
    for damaged, good in zip(result.frames, intact.frames, strict=False):
        assert damaged.metrics == good.metrics


def test_damaged_sqlite3_bag_raises_after_the_good_messages(tmp_path):
    bag = make_bag(tmp_path / "bag", frames=8, storage="sqlite3")
    storage = next(bag.glob("*.db3"))
    with sqlite3.connect(storage) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        total = db.execute("SELECT count(*) FROM messages").fetchone()[0]
    data = bytearray(storage.read_bytes())
    page = len(data) // page_size // 3  # a b-tree page a third into the file
    data[page * page_size: (page + 1) * page_size] = b"\xff" * page_size
    storage.write_bytes(bytes(data))
    read = 0
    with pytest.raises(BagDamagedError) as error:
        for _ in BagReader(bag).messages():
            read += 1
    assert 0 < read < total and error.value.messages_read >= read


def test_not_a_bag_and_missing_topics_are_clear_errors(tmp_path):
    with pytest.raises(BagError, match="not found"):
        BagReader(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagError, match="not a rosbag2"):
        BagReader(tmp_path / "empty")
    path = tmp_path / "only_images"
    with BagWriter(path) as writer:
        writer.write("/cam/image", image_msg(np.zeros((4, 4, 3), np.uint8), "rgb8", 0), 0)
    with pytest.raises(BagError, match="camera_info, points"):
        Evaluator(path, completer=IPBasicCompleter())


def test_topic_detection_by_type_and_name():
    image, info, cloud, completion = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo",
                                      "sensor_msgs/msg/PointCloud2", "nlspn_ros/msg/DepthCompletion")
    topics = detect_topics({"/kitti/cam/image_rect": image, "/kitti/cam/camera_info": info,
                            "/kitti/velo/points": cloud, "/kitti/cam/depth_gt": image,
                            "/nlspn/depth/image": image, "/nlspn/depth/camera_info": info,
                            "/nlspn/depth/points": cloud, "/nlspn/completion": completion,
                            # every output of the node recorded beside the inputs
                            "/nlspn/rgb/image": image, "/nlspn/rgb/camera_info": info,
                            "/nlspn/sparse_depth/image": image, "/nlspn/sparse_depth/camera_info": info,
                            "/nlspn/confidence/image": image, "/nlspn/confidence/camera_info": info,
                            "/nlspn/depth/color": image, "/nlspn/depth/image_raw": image})
    assert (topics.image, topics.camera_info, topics.points) == (
        "/kitti/cam/image_rect", "/kitti/cam/camera_info", "/kitti/velo/points")
    assert (topics.ground_truth, topics.depth, topics.completion) == (
        "/kitti/cam/depth_gt", "/nlspn/depth/image", "/nlspn/completion")
    openni = detect_topics({"/camera/rgb/image_raw": image, "/camera/rgb/camera_info": info, "/points": cloud,
                            "/nlspn/rgb/image": image, "/nlspn/rgb/camera_info": info})
    assert (openni.image, openni.camera_info) == ("/camera/rgb/image_raw", "/camera/rgb/camera_info")
    with pytest.raises(BagError, match="several image topics"):
        detect_topics({"/left/image": image, "/right/image": image})
    chosen = detect_topics({"/left/image": image, "/right/image": image}, image="/right/image")
    assert chosen.image == "/right/image"


def test_held_out_split_is_fixed_by_seed_and_stamp():
    sparse = np.zeros((200, 300), np.float32)
    sparse[::2, ::3] = 7.0  # 10000 samples
    kept, reference = holdout_split(sparse, 0.2, 0, 123)
    np.testing.assert_array_equal(kept + reference, sparse)
    assert not ((kept > 0) & (reference > 0)).any()
    assert 0.18 < (reference > 0).sum() / (sparse > 0).sum() < 0.22
    np.testing.assert_array_equal(holdout_split(sparse, 0.2, 0, 123)[1], reference)
    assert not np.array_equal(holdout_split(sparse, 0.2, 1, 123)[1], reference)


def test_recorded_outputs_are_scored_against_ground_truth(tmp_path):
    """A bag as the recorder writes it from the live node: DepthCompletion + ground truth."""
    types = typestore().types
    path = tmp_path / "recorded"
    truth = np.full((HEIGHT, WIDTH), 10.0, np.float32)
    output = truth + np.linspace(-1, 1, WIDTH, dtype=np.float32)
    output[0, :5] = np.nan  # invalid output pixels count as no estimate
    with BagWriter(path) as writer:
        for i in range(2):
            stamp = 10**18 + i * 10**8
            depth = image_msg(output, "32FC1", stamp)
            writer.write("/camera/ground_truth_depth", image_msg(truth, "32FC1", stamp), stamp)
            no_confidence = types["sensor_msgs/msg/Image"](
                header=depth.header, height=0, width=0, encoding="", is_bigendian=0, step=0,
                data=np.zeros(0, np.uint8))
            completion = types["nlspn_ros/msg/DepthCompletion"](
                header=depth.header, depth=depth, confidence=no_confidence,
                camera_info=camera_info_msg(CAMERA, stamp), num_input_points=10, latency_ms=5.0)
            writer.write("/nlspn/completion", completion, stamp + 5_000_000)
    result = evaluate_bag(path, progress=False)
    assert result.mode == "recorded" and len(result.frames) == 2
    assert result.frames[0].metrics == pytest.approx(
        {**depth_metrics(np.nan_to_num(output), truth), "near_phantom": near_phantom_share(output, truth)})


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_reading_streams_with_bounded_memory(tmp_path, storage):
    import tracemalloc

    path = tmp_path / "big"
    frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)  # 230 kB
    with BagWriter(path, storage) as writer:
        for i in range(100):
            writer.write("/camera/image", image_msg(frame, "rgb8", i * 10**8), i * 10**8)
    bag_bytes = sum(f.stat().st_size for f in path.iterdir())
    assert bag_bytes > 20e6
    tracemalloc.start()
    try:
        count = sum(1 for m in BagReader(path).messages() if m.msg.width == 320)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 100
    assert peak < bag_bytes / 5, f"peak {peak / 1e6:.1f} MB while reading a {bag_bytes / 1e6:.0f} MB bag"


def test_extrinsic_comes_from_tf_static_when_no_parameter_file(tmp_path):
    bag = make_bag(tmp_path / "bag", frames=2)
    with_params = evaluate_bag(bag, params=[params_file_for(bag)], overrides={"method": "ip_basic"},
                               progress=False)
    params_file_for(bag).unlink()
    from_tf = evaluate_bag(bag, overrides={"method": "ip_basic"}, progress=False)
    assert len(from_tf.frames) == 2
    for a, b in zip(from_tf.frames, with_params.frames, strict=True):
        assert a.metrics == pytest.approx(b.metrics, abs=1e-6)
