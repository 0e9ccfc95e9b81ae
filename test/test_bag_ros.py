"""Bags through the live graph (real rclpy, real processes, real bag files, no mocks).

make-bag -> node process -> replay -> record -> evaluate, on a small bag with a small random-init
NLSPN: the live outputs must score exactly as the offline evaluation of the same bag.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nlspn_ros.bag.reader import BagReader

from ros_util import REPO_ROOT, start_process, stop_process

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nlspn_ros.cli", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_demo_live_node_matches_offline_evaluation(tmp_path, checkpoint):
    out = tmp_path / "report"
    result = cli("demo", "--no-kitti", "--frames", "2", "--width", "96", "--height", "64", "--checkpoint",
                 str(checkpoint), "--device", "cpu", "--quiet", "-o", str(out), "--storage", "sqlite3")
    logs = "".join(p.read_text() for p in (out / "logs").glob("*.log")) if (out / "logs").is_dir() else ""
    assert result.returncode == 0, result.stdout + result.stderr + logs
    report = json.loads((out / "report.json").read_text())
    assert report["matches"] is True
    source = report["sources"]["synthetic"]
    comparison = source["comparison"]
    assert comparison["same_frames"] and len(comparison["live_stamps"]) == 2
    assert comparison["depth_bit_identical"] is True and comparison["max_metric_difference"] == 0.0
    assert source["replay"]["outputs"] == 2 and source["replay"]["frames_timed_out"] == 0
    assert source["live"]["mode"] == "recorded" and source["offline"]["mode"] == "offline"
    assert source["latency_ms"]["end_to_end_live"]["frames"] == 2
    assert len(list((out / "synthetic" / "offline" / "panels").glob("*.png"))) == 2
    assert "Live result matches offline `evaluate`: YES" in (out / "report.md").read_text()
    assert f"report: {out / 'report.md'}" in result.stdout


def test_replay_publishes_the_recorded_bytes(tmp_path):
    bag = tmp_path / "bag"
    assert cli("make-bag", str(bag), "--synthetic", "2", "--width", "64", "--height", "32").returncode == 0
    recorded = tmp_path / "recorded"
    recorder = start_process(["-m", "nlspn_ros.cli", "record", str(recorded), "--topics", "/camera/image",
                              "/lidar/points", "--duration", "25"])
    try:
        replay = cli("replay", str(bag), "--rate", "2", "--wait-for-subscribers", "20", "--wait-topics",
                     "/camera/image", "/lidar/points", timeout=60)
    finally:
        output = stop_process(recorder)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    if importlib.util.find_spec("tf2_msgs") is None:  # not installable from PyPI: skipped and said so
        skipped = "not replayed (type not installed here): {'/tf_static': 'tf2_msgs/msg/TFMessage'}"
        assert skipped in replay.stdout
    else:
        assert "'/tf_static': 1" in replay.stdout
    for topic in ("/camera/image", "/lidar/points"):
        sent = [m.rawdata for m in BagReader(bag).messages([topic], decode=False)]
        received = [m.rawdata for m in BagReader(recorded).messages([topic], decode=False)]
        assert received == sent, f"{topic}: recorder printed:\n{output}"


@pytest.fixture(scope="module")
def small_bag(tmp_path_factory) -> Path:
    bag = tmp_path_factory.mktemp("replay") / "bag"
    made = cli("make-bag", str(bag), "--synthetic", "2", "--width", "64", "--height", "32")
    assert made.returncode == 0, made.stdout + made.stderr
    return bag


def listener(name: str, *topics: str, namespace: str = "", expect: int = 0,
             transient_local: bool = False) -> subprocess.Popen:
    """test/processes/listen.py: subscribes ``topics`` (``topic=pkg/msg/Type``), prints what it got."""
    args = [str(REPO_ROOT / "test" / "processes" / "listen.py"), name, *topics, "--namespace", namespace,
            "--expect", str(expect)]
    process = start_process(args + (["--transient-local"] if transient_local else []))
    assert process.stdout.readline().strip() == "subscribed", stop_process(process)
    return process


def finish(process: subprocess.Popen, timeout: float) -> str:
    """Wait for ``process`` to exit by itself (SIGINT after ``timeout``); everything it printed."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    return stop_process(process)


def received(output: str) -> dict[str, int]:
    (line,) = [line for line in output.splitlines() if line.startswith("received ")]
    return json.loads(line.removeprefix("received "))


def test_replay_errors_are_one_clear_line_with_an_exit_status(small_bag):
    # A prefixed --wait-topics name is the name in the graph (was a KeyError traceback); nobody
    # subscribes it: a timeout message and status 1 (was an uncaught TimeoutError).
    result = cli("replay", str(small_bag), "--prefix", "/xq", "--wait-for-subscribers", "1",
                 "--wait-topics", "/xq/camera/image", timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == ("nlspn_ros replay: error: no subscriber on /xq/camera/image "
                                              "after 1 s; nothing was replayed")
    result = cli("replay", str(small_bag), "--prefix", "/xq", "--wait-for-subscribers", "1",
                 "--wait-topics", "/elsewhere/image", timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--wait-topics: /elsewhere/image is not a replayed topic; replayed: " in result.stderr
    assert "/xq/camera/image" in result.stderr
    result = cli("replay", str(tmp := small_bag.parent / "missing"), timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"nlspn_ros replay: error: cannot read {tmp}" in result.stderr


def test_replay_waits_for_the_named_node_not_any_subscriber(small_bag):
    inputs = ["/xq/camera/image=sensor_msgs/msg/Image", "/xq/lidar/points=sensor_msgs/msg/PointCloud2"]
    decoy = listener("decoy", *inputs)  # RViz, a recorder: subscribed long before the node is ready
    late = None
    try:
        replay = start_process(["-m", "nlspn_ros.cli", "replay", str(small_bag), "--prefix", "/xq",
                                "--wait-for-subscribers", "60", "--wait-for-node", "/late/listener",
                                "--wait-topics", "/xq/camera/image", "/lidar/points"])
        time.sleep(4)
        assert replay.poll() is None, "the replay started for the decoy: " + stop_process(replay)
        late = listener("listener", *inputs, namespace="/late", expect=2)
        output = finish(replay, 60)
        assert replay.returncode == 0, output
        assert received(finish(late, 30)) == {"/xq/camera/image": 2, "/xq/lidar/points": 2}
    finally:
        stop_process(decoy)
        if late is not None:
            stop_process(late)


def test_tf_static_is_recorded_and_replayed_transient_local_as_tf2_broadcasts_it(small_bag, tmp_path):
    from rosbags.interfaces import QosDurability

    from nlspn_ros.bag.writer import BagWriter
    from nlspn_ros.ros.bag_io import replay_qos

    # make-bag records /tf_static with the static broadcaster's QoS, as `ros2 bag record` would
    (offered,) = BagReader(small_bag).offered_qos["/tf_static"]
    assert offered.durability == QosDurability.TRANSIENT_LOCAL and offered.depth == 1
    replayed = replay_qos((offered,), 3)  # every /tf_static message of the bag kept for late joiners
    assert replayed.durability.name == "TRANSIENT_LOCAL" and replayed.depth == 3
    # tf2_msgs is not installable here: the same path with a topic of an installed type. A bag whose
    # camera_info publisher was latched: a transient-local subscriber (tf2's static listener QoS)
    # matches only a transient-local replay; a recording of the replay records that QoS again.
    latched = tmp_path / "latched"
    source = BagReader(small_bag)
    with BagWriter(latched) as bag:
        for message in source.messages(["/camera/camera_info"], decode=False):
            bag.write_raw("/camera/camera_info", source.topics["/camera/camera_info"], message.rawdata,
                          message.log_time_ns, offered_qos=(offered,))
    subscriber = listener("static_listener", "/camera/camera_info=sensor_msgs/msg/CameraInfo",
                          transient_local=True, expect=2)
    try:
        result = cli("replay", str(latched), "--wait-for-subscribers", "60", "--wait-for-node",
                     "/static_listener", "--wait-topics", "/camera/camera_info", timeout=90)
        assert result.returncode == 0, result.stdout + result.stderr
        assert received(finish(subscriber, 30)) == {"/camera/camera_info": 2}
    finally:
        stop_process(subscriber)
    # record subscribes once the replay publishes (with its QoS), and the replay waits for it
    recorded = tmp_path / "recorded"
    recorder = start_process(["-m", "nlspn_ros.cli", "record", str(recorded), "--topics",
                              "/camera/camera_info", "--discovery-timeout", "60", "--duration", "30"])
    try:
        result = cli("replay", str(latched), "--wait-for-subscribers", "60", "--wait-for-node",
                     "/nlspn_bag_recorder", "--wait-topics", "/camera/camera_info", timeout=90)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        output = stop_process(recorder)
    assert "recorded into" in output and "'/camera/camera_info': 2" in output, output
    (again,) = BagReader(recorded).offered_qos["/camera/camera_info"]
    assert again.durability == QosDurability.TRANSIENT_LOCAL


@pytest.mark.skipif(importlib.util.find_spec("tf2_ros") is None,
                    reason="tf2_ros (and tf2_msgs) are not installable from PyPI; this test runs where ROS 2 "
                    "Jazzy's tf2_ros is installed")
def test_a_tf2_listener_gets_the_extrinsic_of_a_replayed_bag(small_bag):
    import numpy as np

    from nlspn_ros.bag.writer import CAMERA_FRAME, LIDAR_FRAME
    from nlspn_ros.pipeline.param_files import settings_from_files

    lookup = start_process([str(REPO_ROOT / "test" / "processes" / "tf_lookup.py"), CAMERA_FRAME, LIDAR_FRAME,
                            "30"])
    try:
        assert lookup.stdout.readline().strip() == "listening"
        result = cli("replay", str(small_bag), "--wait-for-subscribers", "20", "--wait-for-node",
                     "/tf_lookup", "--wait-topics", "/tf_static", timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        output = finish(lookup, 40)
    finally:
        stop_process(lookup)
    (line,) = [line for line in output.splitlines() if line.startswith(("found", "not found"))]
    assert line.startswith("found "), output
    expected = settings_from_files(f"{small_bag}.params.yaml").extrinsic
    np.testing.assert_allclose(np.array(json.loads(line[6:])).reshape(4, 4), expected, atol=1e-6)
