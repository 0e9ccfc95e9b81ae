"""nlspn_node as its own process (real rclpy, a small random-init NLSPN on the CPU), driven from here.

One node process serves the module (start-up is the slow part); counters in /diagnostics are
compared as differences. Expected outputs come from the same core pipeline run in this process.
"""

from __future__ import annotations

import array
import threading
import time

import cv2
import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from nlspn_ros.completion.factory import build_completer
from nlspn_ros.completion.nlspn import NLSPNCompleter
from nlspn_ros.pipeline import conversions
from nlspn_ros.pipeline.frame import process_frame
from nlspn_ros.pipeline.settings import NodeSettings
from nlspn_ros.ros.messages import cloud_msg

import depth_consumers
from ros_util import (
    BEST_EFFORT_OUTPUTS,
    CAMERA,
    FRAME,
    HEIGHT,
    NODE_PARAMS,
    OUTPUTS,
    REPO_ROOT,
    SEC,
    WIDTH,
    Harness,
    header,
    make_frame,
    plane_cloud,
    rgb_image,
    ros_arg,
    start_node,
    start_process,
    stop_process,
    subscribed_and_reporting,
    wait_until,
)

pytestmark = [pytest.mark.ros, pytest.mark.slow]

IMAGE_OUTPUTS = [topic for topic, kind in OUTPUTS.items() if kind == "sensor_msgs/msg/Image"]


@pytest.fixture(scope="module")
def harness(ros_domain):
    """The module's harness, in a DDS domain of the module's own (the tests with their own node
    take other domains from ros_domain: no module harness listens there)."""
    h = Harness(ros_domain())
    yield h
    h.close()


@pytest.fixture(scope="module")
def node_process(checkpoint, harness):
    proc = start_node(checkpoint, harness.domain)
    try:
        ready = harness.wait(
            lambda: all(p.get_subscription_count() > 0 for p in harness.pub.values()) and harness.counters(),
            timeout=40.0,
            proc=proc,
        )
        if not ready:
            pytest.fail(f"nlspn_node did not come up; it printed:\n{stop_process(proc)}")
        yield proc
    finally:
        output = stop_process(proc)
        print(output)


class Stamps:
    """Strictly increasing stamps across the module (a backwards stamp would reset the pairing)."""

    next_s = 100

    @classmethod
    def block(cls) -> int:
        cls.next_s += 10
        return cls.next_s * SEC


def expected_result(checkpoint, frame, **changes):
    settings = NodeSettings.defaults().changed({**NODE_PARAMS, "checkpoint": str(checkpoint), **changes})
    completer = NLSPNCompleter(checkpoint, device="cpu")
    return process_frame(*frame, settings, completer)


def as_array(msg: Image) -> np.ndarray:
    return conversions.image_to_array(msg)


def test_outputs_carry_input_stamp_frame_and_formats(harness, node_process, checkpoint) -> None:
    t = Stamps.block()
    frame = make_frame(t, depth=6.0)
    harness.send(t, image=frame[0], info=frame[1], cloud=frame[2])
    assert harness.wait(
        lambda: all(harness.outputs_for(topic, t) for topic in OUTPUTS if topic[0] != "/"), proc=node_process
    ), {k: len(harness.outputs_for(k, t)) for k in OUTPUTS if k[0] != "/"}
    depth = harness.outputs_for("depth/image", t)[0]
    for topic in ("depth/image", "depth/camera_info", "confidence/image", "depth/image_raw", "completion"):
        assert harness.outputs_for(topic, t)[0].header.frame_id == FRAME
    assert (depth.encoding, depth.width, depth.height) == ("32FC1", WIDTH, HEIGHT)
    expected = expected_result(checkpoint, frame)
    np.testing.assert_allclose(as_array(depth), expected.depth, rtol=1e-4, atol=1e-4, equal_nan=True)
    raw = harness.outputs_for("depth/image_raw", t)[0]
    assert raw.encoding == "16UC1"
    millimetres = as_array(raw)
    assert np.all(millimetres[np.isnan(expected.depth)] == 0)
    confidence = as_array(harness.outputs_for("confidence/image", t)[0])
    assert confidence.dtype == np.float32 and confidence.min() >= 0 and confidence.max() <= 1
    info = harness.outputs_for("depth/camera_info", t)[0]
    assert (info.width, info.height) == (WIDTH, HEIGHT) and list(info.k) == CAMERA.k.ravel().tolist()
    sparse = as_array(harness.outputs_for("sparse_depth/image", t)[0])
    assert set(np.unique(sparse[np.isfinite(sparse)])) == {np.float32(6.0)} and (sparse == 6).sum() > 100
    assert np.isnan(sparse).sum() + (sparse == 6).sum() == sparse.size  # REP 118: NaN = no point
    colour = harness.outputs_for("depth/color", t)[0]
    assert (colour.encoding, colour.width, colour.height) == ("rgb8", WIDTH, HEIGHT)
    points = harness.outputs_for("depth/points", t)[0]
    assert [f.name for f in points.fields] == ["x", "y", "z", "rgb"] and points.width > 0
    assert points.header.frame_id == FRAME
    completion = harness.outputs_for("completion", t)[0]
    assert completion.num_input_points == int(np.isfinite(sparse).sum())
    # from the image's arrival to publication: meaningful whatever the stamps (these are from 1970)
    assert 0 < completion.latency_ms < 30_000
    np.testing.assert_array_equal(as_array(completion.depth), as_array(depth))


def test_every_output_is_accepted_by_depth_image_proc_and_rviz_readers(
    harness, node_process, checkpoint
) -> None:
    """With crop and scale set, every image output has a sibling camera_info of its size, stamp and
    frame; depth topics use NaN for "no value"; the RGB image of the output geometry is published,
    so point_cloud_xyzrgb and DepthCloud colour get equal resolutions (issue 20, items 6 and 7)."""
    crop = {"crop__x": 8, "crop__y": 4, "crop__width": 80, "crop__height": 56, "scale": 0.5}
    assert all(r.successful for r in harness.set_parameters(**crop))
    try:
        t = Stamps.block()
        frame = make_frame(t, depth=6.0)
        harness.send(t, image=frame[0], info=frame[1], cloud=frame[2])
        wanted = [*IMAGE_OUTPUTS, *{depth_consumers.camera_info_topic(topic) for topic in IMAGE_OUTPUTS}]
        arrived = lambda: all(harness.outputs_for(topic, t) for topic in wanted)  # noqa: E731
        assert harness.wait(arrived, proc=node_process), {
            topic: len(harness.outputs_for(topic, t)) for topic in wanted
        }
    finally:
        harness.set_parameters(crop__x=0, crop__y=0, crop__width=0, crop__height=0, scale=1.0)
    problems = {}
    for topic in IMAGE_OUTPUTS:
        image = harness.outputs_for(topic, t)[0]
        info = harness.outputs_for(depth_consumers.camera_info_topic(topic), t)[0]
        problems[topic] = depth_consumers.check_image_with_info(image, info)
    for topic in ("depth/image", "depth/image_raw", "sparse_depth/image"):
        problems[topic] += depth_consumers.check_depth_image(harness.outputs_for(topic, t)[0])
    depth = harness.outputs_for("depth/image", t)[0]
    for topic in ("rgb/image", "depth/color"):
        problems[topic] += depth_consumers.check_rgb_for_depth(harness.outputs_for(topic, t)[0], depth)
    assert not any(problems.values()), {k: v for k, v in problems.items() if v}
    assert (depth.width, depth.height) == (40, 28)
    rgb_info, depth_info = (harness.outputs_for(f"{ns}/camera_info", t)[0] for ns in ("rgb", "depth"))
    assert list(rgb_info.k) == list(depth_info.k) and list(rgb_info.p) == list(depth_info.p)
    expected = expected_result(checkpoint, frame, **{k.replace("__", "."): v for k, v in crop.items()})
    np.testing.assert_array_equal(as_array(harness.outputs_for("rgb/image", t)[0]), expected.rgb)
    assert harness.wait(lambda: all(harness.outputs_for(f"best_effort:{o}", t) for o in BEST_EFFORT_OUTPUTS))


def test_camera_three_times_faster_than_lidar(harness, node_process) -> None:
    """30 Hz camera, 10 Hz LiDAR arriving 80 ms late: every image paired with the nearest scan."""
    t0 = Stamps.block()
    before = harness.settled_counters()  # a stale baseline would miss the previous test's last pair
    made_before = int(before.get("pairs.made", 0))
    drops_before = {k: v for k, v in before.items() if k.startswith("dropped.image")}
    arrivals = []
    for k in range(12):
        stamp = t0 + k * SEC // 30
        frame = make_frame(stamp, depth=6.0)
        arrivals.append((stamp + 2_000_000, "camera", stamp, frame))
    for k in range(5):  # scans at 0, 100, ..., 400 ms, each cloud a plane at its own depth
        stamp = t0 + k * SEC // 10
        arrivals.append((stamp + 80_000_000, "lidar", stamp, make_frame(stamp, depth=3.0 + k)))
    arrivals.sort(key=lambda a: a[0])
    start = time.monotonic()
    for arrive_ns, kind, _, frame in arrivals:
        time.sleep(max(0.0, start + (arrive_ns - t0) * 1e-9 - time.monotonic()))
        if kind == "camera":
            harness.send(0, image=frame[0], info=frame[1])
        else:
            harness.send(0, cloud=frame[2])
    assert harness.wait(lambda: harness.counter("pairs.made") - made_before == 12, proc=node_process), (
        harness.counters()
    )
    drops_after = {k: v for k, v in harness.counters().items() if k.startswith("dropped.image")}
    assert drops_after == drops_before
    checked = 0
    for k in range(12):
        stamp = t0 + k * SEC // 30
        nearest_scan = min(range(5), key=lambda j: abs(j * 100 - k * 100 / 3))
        for msg in harness.outputs_for("sparse_depth/image", stamp):
            sparse = as_array(msg)
            values = np.unique(sparse[np.isfinite(sparse)])
            assert list(values) == [3.0 + nearest_scan], (k, values)
            checked += 1
    assert checked >= 2  # latest-wins may skip frames while the model is busy; the rest must be right


def test_an_image_whose_sweep_came_first_is_paired_after_sync_max_wait(harness, node_process) -> None:
    """KITTI timing: the sweep is stamped 10 ms before the image and no later cloud follows (the last
    frame of a recording). After sync.max_wait the image is paired with the earlier sweep; with
    sync.max_wait 0 it waits until a cloud stamped after it arrives."""
    ms = SEC // 1000
    t = Stamps.block()
    image, info, _ = make_frame(t, depth=6.0)
    harness.send(t, cloud=make_frame(t - 10 * ms, depth=6.0)[2])
    harness.send(t, image=image, info=info)
    assert harness.wait(lambda: harness.outputs_for("depth/image", t), 20.0, node_process), harness.counters()
    (result,) = harness.set_parameters(sync__max_wait=0.0)
    assert result.successful, result.reason
    try:
        t2 = Stamps.block()
        image, info, _ = make_frame(t2, depth=6.0)
        harness.send(t2, cloud=make_frame(t2 - 10 * ms, depth=6.0)[2])
        harness.send(t2, image=image, info=info)
        assert not harness.wait(lambda: harness.outputs_for("depth/image", t2), 2.0, node_process)
        harness.send(t2, cloud=make_frame(t2 + 30 * ms, depth=6.0)[2])  # a later sweep decides it
        assert harness.wait(lambda: harness.outputs_for("depth/image", t2), 10.0, node_process)
    finally:
        (restored,) = harness.set_parameters(sync__max_wait=NODE_PARAMS["sync.max_wait"])
        assert restored.successful


def test_runtime_parameters_apply_at_next_frame_and_invalid_ones_are_refused(
    harness, node_process, checkpoint
) -> None:
    t = Stamps.block()
    frame = make_frame(t, depth=5.0)
    expected = expected_result(checkpoint, frame)
    threshold = float(np.median(expected.confidence))
    results = harness.set_parameters(confidence_threshold=threshold, scale=0.5)
    assert all(r.successful for r in results), [r.reason for r in results]
    harness.send(t, image=frame[0], info=frame[1], cloud=frame[2])
    assert harness.wait(lambda: harness.outputs_for("depth/image", t), proc=node_process)
    depth = as_array(harness.outputs_for("depth/image", t)[0])
    expected = expected_result(checkpoint, frame, confidence_threshold=threshold, scale=0.5)
    assert depth.shape == (HEIGHT // 2, WIDTH // 2)
    np.testing.assert_allclose(depth, expected.depth, rtol=1e-4, atol=1e-4, equal_nan=True)
    assert 0.2 < np.isnan(depth).mean() < 0.8
    info = harness.outputs_for("depth/camera_info", t)[0]
    assert (info.width, info.height) == (WIDTH // 2, HEIGHT // 2)
    assert info.k[0] == pytest.approx(30.0)

    (refused,) = harness.set_parameters(min_depth=500.0)
    assert not refused.successful and "min_depth (500.0) must be < max_depth" in refused.reason
    (refused,) = harness.set_parameters(confidence_threshold=2.0)
    assert not refused.successful and refused.reason
    (refused,) = harness.set_parameters(device="cuda")
    assert not refused.successful and "read-only" in refused.reason
    (accepted,) = harness.set_parameters(use_sim_time=False)  # rclpy's own parameters still work
    assert accepted.successful, accepted.reason
    # the refused values did not stick: the next frame uses the accepted settings
    t2 = Stamps.block()
    frame2 = make_frame(t2, depth=5.0)
    harness.send(t2, image=frame2[0], info=frame2[1], cloud=frame2[2])
    assert harness.wait(lambda: harness.outputs_for("depth/image", t2), proc=node_process)
    np.testing.assert_allclose(
        as_array(harness.outputs_for("depth/image", t2)[0]),
        expected.depth,
        rtol=1e-4,
        atol=1e-4,
        equal_nan=True,
    )
    # an output switched off at runtime is not published from the next frame on
    results = harness.set_parameters(confidence_threshold=0.0, scale=1.0, publish__points=False)
    assert all(r.successful for r in results)
    t3 = Stamps.block()
    frame3 = make_frame(t3, depth=5.0)
    harness.send(t3, image=frame3[0], info=frame3[1], cloud=frame3[2])
    assert harness.wait(lambda: harness.outputs_for("completion", t3), proc=node_process)
    time.sleep(0.3)
    assert harness.outputs_for("depth/points", t3) == []
    assert as_array(harness.outputs_for("depth/image", t3)[0]).shape == (HEIGHT, WIDTH)
    assert all(r.successful for r in harness.set_parameters(publish__points=True))


def test_burst_is_latest_wins(harness, node_process) -> None:
    """Pairs faster than the model: a waiting pair is replaced, never queued; every pair accounted.

    Ten images (3 ms apart) wait for a cloud; the cloud after them decides all ten in one callback.
    """
    before = harness.settled_counters()
    t0 = Stamps.block()
    stamps = [t0 + k * 3_000_000 for k in range(10)]
    for stamp in stamps:
        image, info, _ = make_frame(stamp, 5.0)
        harness.send(0, image=image, info=info)
    assert harness.wait(lambda: harness.counters().get("rate_hz.image", "0") != "0.00")
    time.sleep(0.5)  # the ten images have arrived and wait in the pairing queue
    harness.send(0, cloud=make_frame(stamps[-1] + 1_000_000, 5.0)[2])
    assert harness.wait(lambda: harness.outputs_for("depth/image", stamps[-1]), proc=node_process)

    def delta(key: str) -> int:
        return harness.counter(key) - int(before.get(key, 0))

    assert harness.wait(lambda: delta("frames.completed") + delta("frames.superseded") == 10), (
        harness.counters()
    )
    assert delta("pairs.made") == 10
    assert delta("frames.superseded") >= 5  # the newest always wins; at most a few older ones got through
    assert not harness.outputs_for("depth/image", stamps[1])  # the second was replaced before it ran


def bad_frames():
    """(diagnostics counter, frame builder) for each kind of bad input."""

    def unsupported_encoding(t):
        image, info, cloud = make_frame(t, 5.0)
        image.encoding = "yuv422"
        return image, info, cloud

    def malformed_cloud(t):
        image, info, cloud = make_frame(t, 5.0)
        cloud.row_step += 4
        return image, info, cloud

    def camera_info_mismatch(t):
        image, info, cloud = make_frame(t, 5.0)
        info.width = WIDTH * 2
        return image, info, cloud

    def missing_camera_info(t):
        image, info, cloud = make_frame(t, 5.0)
        info.header.stamp = rclpy.time.Time(nanoseconds=t + SEC).to_msg()  # none within slop
        return image, info, cloud

    def all_nan_points(t):
        return make_frame(t, 5.0, nan_every=1)

    def foreign_cloud_frame(t):
        return make_frame(t, 5.0, frame="radar")

    return [
        ("bad_input.image", unsupported_encoding),
        ("bad_input.cloud", malformed_cloud),
        ("bad_input.camera_info", camera_info_mismatch),
        ("dropped.image.no_camera_info_within_slop", missing_camera_info),
        ("bad_input.nan_points", all_nan_points),
        ("bad_input.cloud_frame", foreign_cloud_frame),
    ]


def test_bad_input_is_counted_and_the_node_keeps_running(harness, node_process) -> None:
    for counter, build in bad_frames():
        before = harness.counter(counter)
        t = Stamps.block()
        image, info, cloud = build(t)
        harness.send(t, image=image, info=info, cloud=cloud)
        later = make_frame(t + 2 * SEC, 5.0)  # a later message lets the pairing decide
        harness.send(0, info=later[1], cloud=later[2])
        assert harness.wait(lambda c=counter, b=before: harness.counter(c) > b, proc=node_process), (
            counter,
            harness.counters(),
        )
        assert node_process.poll() is None
    # some NaN points: ignored and counted, the frame is still completed
    before = harness.counter("points.non_finite")
    t = Stamps.block()
    frame = make_frame(t, 5.0, nan_every=4)
    harness.send(t, image=frame[0], info=frame[1], cloud=frame[2])
    assert harness.wait(lambda: harness.outputs_for("depth/image", t), proc=node_process)
    assert harness.wait(lambda: harness.counter("points.non_finite") >= before + 100)
    warnings = [
        d.status[0] for d in harness.messages("/diagnostics") if d.status[0].level == DiagnosticStatus.WARN
    ]
    assert warnings and "bad input" in warnings[-1].message
    assert {
        "rate_hz.image",
        "latency_ms.infer.median",
        "latency_ms.publish.median",
        "latency_ms.since_arrival.median",
        "device",
    } <= set(harness.counters())
    assert harness.counters()["device"] == "cpu"


def test_model_that_cannot_be_loaded_exits_non_zero(tmp_path) -> None:
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    proc = start_process(
        ["-m", "nlspn_ros.ros.node", "--ros-args", *ros_arg("checkpoint", broken), *ros_arg("device", "cpu")],
        env={"FASTRTPS_DEFAULT_PROFILES_FILE": str(REPO_ROOT / "config" / "fastdds_shm.xml")},
    )
    try:
        proc.wait(timeout=60)
    finally:
        output = stop_process(proc)
    assert proc.returncode not in (0, None), output
    assert "cannot load the nlspn model" in output and str(broken) in output
    assert "XMLPARSER" not in output  # config/fastdds_shm.xml (set by scripts/env.sh) parses cleanly


def test_invalid_start_parameters_exit_non_zero() -> None:
    proc = start_process(["-m", "nlspn_ros.ros.node", "--ros-args", *ros_arg("method", "magic")])
    try:
        proc.wait(timeout=60)
    finally:
        output = stop_process(proc)
    assert proc.returncode not in (0, None), output
    assert "method must be one of ['nlspn', 'ip_basic'], got 'magic'" in output


def test_no_subscribers_means_no_work(ros_domain) -> None:
    """With nobody listening to any output, paired frames are counted but not completed.

    Runs in a DDS domain of its own (no module harness listening), with the CPU baseline method.
    """
    domain = ros_domain()
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    node = Node("nlspn_idle_tester", context=context)
    reliable = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
    diagnostics: list = []
    node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, reliable)
    pubs = {
        name: node.create_publisher(cls, name, reliable)
        for name, cls in (("image", Image), ("camera_info", CameraInfo), ("points", PointCloud2))
    }
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    args = ["-m", "nlspn_ros.ros.node", "--ros-args"]
    for name, value in {**NODE_PARAMS, "method": "ip_basic"}.items():
        args += ros_arg(name, value)
    proc = start_process(args, env={"ROS_DOMAIN_ID": str(domain)})
    try:

        def counters() -> dict[str, str]:
            return {kv.key: kv.value for kv in diagnostics[-1].status[0].values} if diagnostics else {}

        def wait(condition) -> bool:
            return wait_until(condition, 30.0, proc)

        assert wait(lambda: all(p.get_subscription_count() for p in pubs.values()) and counters())
        for k in range(3):  # one at a time: a burst would let latest-wins supersede a waiting pair
            image, info, cloud = make_frame((500 + k) * SEC, 5.0)
            pubs["camera_info"].publish(info)
            pubs["image"].publish(image)
            pubs["points"].publish(cloud)
            assert wait(lambda k=k: counters().get("frames.no_subscribers") == str(k + 1)), counters()
        assert counters()["pairs.made"] == "3"
        assert counters().get("frames.completed", "0") == "0" and counters()["method"] == "ip_basic"
    finally:
        output = stop_process(proc)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        spinner.join(timeout=5)
    assert "completer ip_basic" in output


def test_diagnostics_tell_nodes_apart_and_appear_under_sim_time(ros_domain) -> None:
    """Two cameras' nodes (namespaces front and left) publish /diagnostics that name them fully,
    with distinct hardware ids; the one under use_sim_time reports during a short bag (0.5 s of
    /clock, less than one diagnostics period) and after it, while the clock stands still."""
    domain = ros_domain()
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    node = Node("nlspn_diagnostics_tester", context=context)
    statuses: list = []
    node.create_subscription(
        DiagnosticArray, "/diagnostics", lambda m: statuses.extend(m.status), QoSProfile(depth=50)
    )
    clock_pub = node.create_publisher(Clock, "/clock", 10)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    procs = []
    for namespace, sim_time in (("front", True), ("left", False)):
        args = ["-m", "nlspn_ros.ros.node", "--ros-args", "-r", f"__ns:=/{namespace}"]
        params = {"method": "ip_basic", "diagnostics_period": 1.0, "use_sim_time": sim_time}
        for name, value in params.items():
            args += ros_arg(name, value)
        procs.append(start_process(args, env={"ROS_DOMAIN_ID": str(domain)}))
    try:
        assert wait_until(lambda: clock_pub.get_subscription_count() > 0, 60.0, procs[0])
        start = 1_700_000_000 * SEC  # a bag's time: 0.5 s of it, then the clock stands still
        for k in range(26):
            clock_pub.publish(Clock(clock=rclpy.time.Time(nanoseconds=start + k * SEC // 50).to_msg()))
            time.sleep(0.02)

        def names() -> set[str]:
            return {status.name for status in list(statuses)}

        wanted = {"/front/nlspn_node: depth completion", "/left/nlspn_node: depth completion"}
        assert wait_until(lambda: wanted <= names(), 30.0), names()
        hardware = {status.name: status.hardware_id for status in list(statuses)}
        assert hardware[min(wanted)] != hardware[max(wanted)], hardware
        assert all(proc.poll() is None for proc in procs)
    finally:
        outputs = [stop_process(proc) for proc in procs]
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        spinner.join(timeout=5)
    assert all("completer ip_basic" in output for output in outputs), outputs


def compressed_image(stamp_ns: int, extension: str, fmt: str, data: bytes | None = None) -> CompressedImage:
    """What image_transport's compressed publisher sends for :func:`rgb_image`."""
    if data is None:
        ok, encoded = cv2.imencode(extension, np.ascontiguousarray(rgb_image()[..., ::-1]))
        assert ok
        data = encoded.tobytes()
    return CompressedImage(header=header(stamp_ns), format=fmt, data=array.array("B", data))


def test_compressed_images_are_decoded_paired_and_bad_payloads_counted(checkpoint, ros_domain) -> None:
    """image_transport:=compressed: the node reads `<image>/compressed` (after remapping `image`, as
    image_transport resolves it), decodes png and jpeg, pairs and publishes as for raw images; a
    payload that does not decode is counted as bad input and the node goes on."""
    harness = Harness(ros_domain())
    compressed_pub = harness.node.create_publisher(
        CompressedImage,
        "/cam/image_raw/compressed",
        QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE),
    )
    params = {"method": "ip_basic", "image_transport": "compressed"}
    proc = start_node(checkpoint, harness.domain, remap={"image": "/cam/image_raw"}, **params)
    try:
        ready = lambda: compressed_pub.get_subscription_count() > 0 and harness.counters()  # noqa: E731
        assert harness.wait(ready, 60.0, proc)
        settings = NodeSettings.defaults().changed({**NODE_PARAMS, **params})
        t_png, t_jpeg, t_bad = (Stamps.block() for _ in range(3))
        # one frame at a time (each decided by its cloud, stamped as the image): latest-wins would
        # supersede a pair waiting behind a busy worker
        def published(stamp: int):
            return lambda: all(harness.outputs_for(topic, stamp) for topic in ("rgb/image", "depth/image"))

        for stamp, extension, fmt, data, done in (
            (t_png, ".png", "rgb8; png compressed bgr8", None, published(t_png)),
            (t_jpeg, ".jpg", "rgb8; jpeg compressed bgr8", None, published(t_jpeg)),
            (t_bad, ".png", "png", b"\x89PNG but truncated", lambda: harness.counter("bad_input.image") == 1),
        ):
            _, info, cloud = make_frame(stamp, depth=5.0)
            harness.send(0, info=info)
            compressed_pub.publish(compressed_image(stamp, extension, fmt, data))
            harness.send(0, cloud=cloud)
            assert harness.wait(done, 30.0, proc), (fmt, harness.counters())
        png_rgb = as_array(harness.outputs_for("rgb/image", t_png)[0])
        np.testing.assert_array_equal(png_rgb, rgb_image())  # lossless
        expected = process_frame(*make_frame(t_png, depth=5.0), settings, build_completer(settings))
        np.testing.assert_array_equal(as_array(harness.outputs_for("depth/image", t_png)[0]), expected.depth)
        jpeg_rgb = as_array(harness.outputs_for("rgb/image", t_jpeg)[0]).astype(int)
        assert jpeg_rgb.shape == (HEIGHT, WIDTH, 3) and np.abs(jpeg_rgb - rgb_image()).mean() < 10
        assert not harness.outputs_for("depth/image", t_bad)
        assert proc.poll() is None
    finally:
        output = stop_process(proc)
        harness.close()
    assert "cannot decode the png payload" in output, output


def tf2_ros_installed() -> bool:
    try:
        import tf2_ros  # noqa: F401
    except ImportError:
        return False
    return True


def counted(harness: Harness, key: str, before: int, proc) -> bool:
    return harness.wait(lambda: harness.counter(key) > before, 30.0, proc)


@pytest.mark.skipif(tf2_ros_installed(), reason="tf2_ros is installed here: the TF test covers the node")
def test_without_tf2_ros_or_extrinsic_parameters_the_node_says_so_once_and_keeps_running(
    checkpoint, ros_domain
) -> None:
    """No t_cam_lidar* parameter and no tf2_ros: one line at configure names both remedies; a cloud
    in another frame is counted as bad input, a cloud in the image's frame is still completed."""
    harness = Harness(ros_domain())
    # '""': an empty string on the command line (-p lidar_frame:= does not parse)
    params = {**NODE_PARAMS, "method": "ip_basic", "t_cam_lidar": [0.0], "lidar_frame": '""'}
    proc = start_node(checkpoint, harness.domain, **params)
    try:
        assert harness.wait(lambda: subscribed_and_reporting(harness), 60.0, proc)
        t_foreign, t_same, t_after = (Stamps.block() for _ in range(3))
        image, info, cloud = make_frame(t_foreign, depth=5.0)  # cloud in "lidar", image in "camera_optical"
        harness.send(t_foreign, image=image, info=info, cloud=cloud)
        assert counted(harness, "bad_input.no_extrinsic", 0, proc), harness.counters()
        image, info, cloud = make_frame(t_same, depth=5.0, frame=FRAME)  # cloud in the image's frame
        harness.send(t_same, image=image, info=info, cloud=cloud)
        completed = lambda: harness.outputs_for("depth/image", t_same)  # noqa: E731
        assert harness.wait(completed, 30.0, proc), harness.counters()
        assert proc.poll() is None
    finally:
        output = stop_process(proc)
        harness.close()
    notices = [line for line in output.splitlines() if "no extrinsic parameter is set" in line]
    assert len(notices) == 1, output
    assert "set t_cam_lidar" in notices[0] and "install tf2_ros" in notices[0]
    assert "'lidar' is not the image's 'camera_optical'" in output  # the per-frame warning


@pytest.mark.skipif(
    not tf2_ros_installed(),
    reason="tf2_ros (and tf2_msgs) are not installable from PyPI: this runs wherever a ROS 2 "
    "distribution provides them",
)
def test_extrinsic_comes_from_tf_and_parameters_override(checkpoint, ros_domain) -> None:
    """No extrinsic parameter: the node looks up cloud frame -> image frame in TF (a /tf_static
    latched before it starts, a dynamic /tf at the image's stamp); a missing or too old transform is
    counted; an extrinsic parameter set at runtime wins."""
    import tf2_ros
    import transforms3d
    from geometry_msgs.msg import Quaternion, TransformStamped, Vector3

    from nlspn_ros.geometry import invert_transform, transform_from_rpy

    harness = Harness(ros_domain())
    t_cam_lidar = transform_from_rpy([0.2, -0.1, 0.3], -np.pi / 2, 0.0, -np.pi / 2)  # x forward -> z forward

    w, x, y, z = transforms3d.quaternions.mat2quat(t_cam_lidar[:3, :3])
    translation = dict(zip("xyz", map(float, t_cam_lidar[:3, 3]), strict=True))

    def stamped(stamp_ns: int, child: str) -> TransformStamped:
        msg = TransformStamped(header=header(stamp_ns), child_frame_id=child)
        msg.transform.translation = Vector3(**translation)
        msg.transform.rotation = Quaternion(x=x, y=y, z=z, w=w)
        return msg

    def lidar_frame(stamp_ns: int, depth: float, child: str):
        image, info, _ = make_frame(stamp_ns, depth)
        t_lidar_cam = invert_transform(t_cam_lidar)
        in_lidar = plane_cloud(depth) @ t_lidar_cam[:3, :3].T + t_lidar_cam[:3, 3]
        return image, info, cloud_msg(header(stamp_ns, child), in_lidar.astype(np.float32))

    static = tf2_ros.StaticTransformBroadcaster(harness.node)
    static.sendTransform(stamped(0, "velodyne"))  # latched before the node starts
    dynamic = tf2_ros.TransformBroadcaster(harness.node)
    params = {**NODE_PARAMS, "t_cam_lidar": [0.0], "lidar_frame": '""', "tf_timeout": 0.1}
    proc = start_node(checkpoint, harness.domain, **params)
    try:
        assert harness.wait(lambda: subscribed_and_reporting(harness), 60.0, proc)
        t_static, t_missing, t_dynamic, t_old, t_param = (Stamps.block() for _ in range(5))
        frame = lidar_frame(t_static, 6.0, "velodyne")
        harness.send(t_static, image=frame[0], info=frame[1], cloud=frame[2])
        assert harness.wait(lambda: harness.outputs_for("sparse_depth/image", t_static), 30.0, proc)
        sparse = as_array(harness.outputs_for("sparse_depth/image", t_static)[0])
        np.testing.assert_allclose(sparse[np.isfinite(sparse)], 6.0, atol=1e-4)
        assert np.isfinite(sparse).sum() > 100
        frame = lidar_frame(t_missing, 6.0, "radar")  # no transform for this frame at all
        harness.send(t_missing, image=frame[0], info=frame[1], cloud=frame[2])
        assert counted(harness, "bad_input.tf_missing", 0, proc), harness.counters()
        dynamic.sendTransform(stamped(t_dynamic - SEC // 10, "spinning_lidar"))
        dynamic.sendTransform(stamped(t_dynamic + SEC // 10, "spinning_lidar"))
        time.sleep(0.5)
        frame = lidar_frame(t_dynamic, 6.0, "spinning_lidar")  # interpolated at the image's stamp
        harness.send(t_dynamic, image=frame[0], info=frame[1], cloud=frame[2])
        assert harness.wait(lambda: harness.outputs_for("sparse_depth/image", t_dynamic), 30.0, proc)
        frame = lidar_frame(t_old, 6.0, "spinning_lidar")  # the newest transform is 10 s older
        harness.send(t_old, image=frame[0], info=frame[1], cloud=frame[2])
        assert counted(harness, "bad_input.tf_too_old", 0, proc), harness.counters()
        results = harness.set_parameters(t_cam_lidar=t_cam_lidar.ravel().tolist())
        assert all(r.successful for r in results), [r.reason for r in results]
        frame = lidar_frame(t_param, 6.0, "radar")  # the parameter wins: no TF needed
        harness.send(t_param, image=frame[0], info=frame[1], cloud=frame[2])
        assert harness.wait(lambda: harness.outputs_for("sparse_depth/image", t_param), 30.0, proc)
    finally:
        output = stop_process(proc)
        harness.close()
    assert "no extrinsic parameter is set" not in output
    assert "'radar' -> 'camera_optical'" in output


def test_ip_basic_applies_runtime_max_depth_and_refuses_what_it_cannot_apply(checkpoint, ros_domain) -> None:
    """IP-Basic node, max_depth raised at runtime above the default (100 m) and a cloud at 150 m:
    the dense depth has the points (it was all NaN when the completer kept its start max_depth);
    parameters IP-Basic cannot apply are refused with a reason. Own DDS domain, own node, started
    with ``t_cam_lidar:=[]`` (an empty list: "not set", like leaving it out; it used to stop the
    node at start with "parameter 't_cam_lidar' is not initialized")."""
    harness = Harness(ros_domain())
    # '""': no expected cloud frame (-p lidar_frame:= does not parse), the cloud is in the image's
    proc = start_node(checkpoint, harness.domain, method="ip_basic", t_cam_lidar=[], lidar_frame='""')
    try:
        assert harness.wait(lambda: subscribed_and_reporting(harness), 40.0, proc), stop_process(proc)
        (accepted,) = harness.set_parameters(max_depth=300.0)
        assert accepted.successful, accepted.reason
        t = 700 * SEC
        # no extrinsic parameter: a cloud in the image's own frame needs none (TF is not consulted)
        image, info, cloud = make_frame(t, depth=150.0, frame=FRAME)
        harness.send(t, image=image, info=info, cloud=cloud)
        assert harness.wait(lambda: harness.outputs_for("depth/image", t), proc=proc), harness.counters()
        depth = as_array(harness.outputs_for("depth/image", t)[0])
        assert np.isfinite(depth).mean() > 0.5
        np.testing.assert_allclose(depth[np.isfinite(depth)], 150.0, rtol=1e-3)
        (refused,) = harness.set_parameters(prop_time=5)
        assert not refused.successful and "method ip_basic has no propagation" in refused.reason
        (refused,) = harness.set_parameters(confidence_threshold=0.5)
        assert not refused.successful and "gives no confidence" in refused.reason
    finally:
        output = stop_process(proc)
        harness.close()
    assert proc.returncode == 0, output
