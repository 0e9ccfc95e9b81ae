"""nlspn_node as its own process (real rclpy, a small random-init NLSPN on the CPU), driven from here.

One node process serves the module (start-up is the slow part); counters in /diagnostics are
compared as differences. Expected outputs come from the same core pipeline run in this process.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header

from nlspn_ros import conversions
from nlspn_ros.frame import process_frame
from nlspn_ros.geometry import CameraModel
from nlspn_ros.inference import NLSPNCompleter
from nlspn_ros.msg import DepthCompletion
from nlspn_ros.node_settings import NodeSettings
from nlspn_ros.ros.messages import camera_info_msg, cloud_msg, image_msg

from ros_util import REPO_ROOT, start_process, stop_process

pytestmark = [pytest.mark.ros, pytest.mark.slow]

WIDTH, HEIGHT = 96, 64
CAMERA = CameraModel.pinhole(WIDTH, HEIGHT, fx=60.0, fy=60.0, cx=47.5, cy=31.5)
FRAME, LIDAR_FRAME = "camera_optical", "lidar"
NODE_PARAMS = {
    "device": "cpu",
    "diagnostics_period": 0.2,
    "qos.input_reliability": "reliable",
    "qos.input_depth": 50,
    "lidar_frame": LIDAR_FRAME,
    "publish.depth_raw": True,
    "publish.sparse_depth": True,
    "publish.points": True,
    "sync.slop": 0.06,
    # room for the 12 images of the 3x-rate test: on a loaded machine the executor may take all of
    # them before the late clouds, and a queue of 10 then overflows (by design, counted as a drop)
    "sync.queue_size": 40,
}
OUTPUTS = {
    "depth/image": Image,
    "depth/camera_info": CameraInfo,
    "confidence/image": Image,
    "depth/image_raw": Image,
    "sparse_depth/image": Image,
    "depth/color": Image,
    "depth/points": PointCloud2,
    "completion": DepthCompletion,
    "/diagnostics": DiagnosticArray,
}
SEC = 1_000_000_000
# DDS domains of this module's own (outside the 100..199 that conftest gives whole sessions)
MODULE_DOMAIN = 200 + os.getpid() % 15
IDLE_DOMAIN = 215 + os.getpid() % 15


def ros_arg(name, value) -> list[str]:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return ["-p", f"{name}:={text}"]


def plane_cloud(depth: float, n: int = 400, frame: str = LIDAR_FRAME, nan_every: int = 0) -> np.ndarray:
    """Points of a fronto-parallel plane at ``depth`` m filling the view (LiDAR frame = camera frame)."""
    rng = np.random.default_rng(int(depth * 10))
    u, v = rng.uniform(0, WIDTH - 1, n), rng.uniform(0, HEIGHT - 1, n)
    xyz = np.stack(
        [(u - CAMERA.cx) / CAMERA.fx * depth, (v - CAMERA.cy) / CAMERA.fy * depth, np.full(n, depth)], axis=1
    ).astype(np.float32)
    if nan_every:
        xyz[::nan_every] = np.nan
    return xyz


def header(stamp_ns: int, frame: str = FRAME) -> Header:
    return Header(stamp=rclpy.time.Time(nanoseconds=stamp_ns).to_msg(), frame_id=frame)


def rgb_image() -> np.ndarray:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    return np.stack([xx * 2, yy * 3, (xx + yy) % 256], axis=2).astype(np.uint8)


def wait_until(condition, timeout: float = 20.0, proc=None) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` s pass or ``proc`` exits (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.02)
    return condition()


class Harness:
    """A test node in its own rclpy context, spinning in a thread, recording everything it receives."""

    def __init__(self, domain: int = MODULE_DOMAIN) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = Node("nlspn_node_tester", context=self.context)
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.lock = threading.Lock()
        self.received: dict[str, list] = defaultdict(list)
        for topic, cls in OUTPUTS.items():
            self.node.create_subscription(cls, topic, lambda m, t=topic: self._record(t, m), reliable)
        self.pub = {
            "image": self.node.create_publisher(Image, "image", reliable),
            "camera_info": self.node.create_publisher(CameraInfo, "camera_info", reliable),
            "points": self.node.create_publisher(PointCloud2, "points", reliable),
        }
        self.param_client = self.node.create_client(SetParameters, "/nlspn_node/set_parameters")
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _record(self, topic: str, msg) -> None:
        with self.lock:
            self.received[topic].append(msg)

    def messages(self, topic: str) -> list:
        with self.lock:
            return list(self.received[topic])

    def wait(self, condition, timeout: float = 20.0, proc=None) -> bool:
        return wait_until(condition, timeout, proc)

    def outputs_for(self, topic: str, stamp_ns: int) -> list:
        return [m for m in self.messages(topic) if conversions.stamp_to_ns(m.header.stamp) == stamp_ns]

    def counters(self) -> dict[str, str]:
        diags = self.messages("/diagnostics")
        return {kv.key: kv.value for kv in diags[-1].status[0].values} if diags else {}

    def counter(self, key: str) -> int:
        return int(self.counters().get(key, 0))

    def settled_counters(self) -> dict[str, str]:
        """Counters from a /diagnostics message published at least one period after now, so that
        a baseline read before a test step includes everything the node already handled."""
        seen: list = []

        def two_new() -> bool:
            last = self.messages("/diagnostics")[-1:]
            if last and (not seen or last[0] is not seen[-1]):
                seen.append(last[0])
            return len(seen) >= 3

        assert self.wait(two_new), "no fresh /diagnostics from the node"
        return self.counters()

    def send(
        self,
        stamp_ns: int,
        *,
        image: Image | None = None,
        info: CameraInfo | None = None,
        cloud: PointCloud2 | None = None,
    ) -> None:
        for name, msg in (("camera_info", info), ("image", image), ("points", cloud)):
            if msg is not None:
                self.pub[name].publish(msg)

    def set_parameters(self, **values) -> list:
        assert self.param_client.wait_for_service(timeout_sec=10.0)
        params = []
        for name, value in values.items():
            if isinstance(value, float):
                pv = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
            elif isinstance(value, bool):
                pv = ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
            elif isinstance(value, int):
                pv = ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
            else:
                pv = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
            params.append(ParameterMsg(name=name.replace("__", "."), value=pv))
        future = self.param_client.call_async(SetParameters.Request(parameters=params))
        assert self.wait(future.done, 10.0), "SetParameters call did not return"
        return future.result().results

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self.thread.join(timeout=5)


def make_frame(stamp_ns: int, depth: float, **cloud_kwargs) -> tuple[Image, CameraInfo, PointCloud2]:
    frame = cloud_kwargs.pop("frame", LIDAR_FRAME)
    return (
        image_msg(header(stamp_ns), rgb_image(), "rgb8"),
        camera_info_msg(header(stamp_ns), CAMERA.to_camera_info_fields()),
        cloud_msg(header(stamp_ns, frame), plane_cloud(depth, **cloud_kwargs)),
    )


@pytest.fixture(scope="module")
def harness():
    h = Harness()
    yield h
    h.close()


def start_node(checkpoint, domain: int = MODULE_DOMAIN, **params):
    """nlspn_node in its own process: config/nlspn.yaml, the test parameters, ``checkpoint`` and
    ``params`` (which win), the shared-memory Fast DDS profile, DDS domain ``domain``."""
    params_file = str(REPO_ROOT / "config" / "nlspn.yaml")
    args = ["-m", "nlspn_ros.ros.node", "--ros-args", "--params-file", params_file]
    for name, value in {**NODE_PARAMS, "checkpoint": str(checkpoint), **params}.items():
        args += ros_arg(name, value)
    env = {
        "FASTRTPS_DEFAULT_PROFILES_FILE": str(REPO_ROOT / "config" / "fastdds_shm.xml"),
        "ROS_DOMAIN_ID": str(domain),
    }
    return start_process(args, env=env)


@pytest.fixture(scope="module")
def node_process(checkpoint, harness):
    proc = start_node(checkpoint)
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
    assert set(np.unique(sparse)) <= {0.0, np.float32(6.0)} and (sparse == 6).sum() > 100
    colour = harness.outputs_for("depth/color", t)[0]
    assert (colour.encoding, colour.width, colour.height) == ("rgb8", WIDTH, HEIGHT)
    points = harness.outputs_for("depth/points", t)[0]
    assert [f.name for f in points.fields] == ["x", "y", "z", "rgb"] and points.width > 0
    assert points.header.frame_id == FRAME
    completion = harness.outputs_for("completion", t)[0]
    assert completion.num_input_points == int((sparse > 0).sum())
    assert completion.latency_ms > 0
    np.testing.assert_array_equal(as_array(completion.depth), as_array(depth))


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
            values = np.unique(as_array(msg))
            assert list(values) == [0.0, 3.0 + nearest_scan], (k, values)
            checked += 1
    assert checked >= 2  # latest-wins may skip frames while the model is busy; the rest must be right


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
    assert {"rate_hz.image", "latency_ms.infer.median", "latency_ms.publish.median", "device"} <= set(
        harness.counters()
    )
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


def test_no_subscribers_means_no_work() -> None:
    """With nobody listening to any output, paired frames are counted but not completed.

    Runs in a DDS domain of its own (no module harness listening), with the CPU baseline method.
    """
    domain = IDLE_DOMAIN
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


def test_ip_basic_applies_runtime_max_depth_and_refuses_what_it_cannot_apply(checkpoint) -> None:
    """IP-Basic node, max_depth raised at runtime above the default (100 m) and a cloud at 150 m:
    the dense depth has the points (it was all NaN when the completer kept its start max_depth);
    parameters IP-Basic cannot apply are refused with a reason. Own DDS domain, own node, started
    with ``t_cam_lidar:=[]`` (an empty list: "not set", like leaving it out; it used to stop the
    node at start with "parameter 't_cam_lidar' is not initialized")."""
    harness = Harness(domain=IDLE_DOMAIN)
    proc = start_node(checkpoint, IDLE_DOMAIN, method="ip_basic", t_cam_lidar=[])
    try:
        assert harness.wait(
            lambda: all(p.get_subscription_count() for p in harness.pub.values()) and harness.counters(),
            timeout=40.0,
            proc=proc,
        ), stop_process(proc)
        (accepted,) = harness.set_parameters(max_depth=300.0)
        assert accepted.successful, accepted.reason
        t = 700 * SEC
        image, info, cloud = make_frame(t, depth=150.0)
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
