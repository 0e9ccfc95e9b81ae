"""Helpers for tests that run real ROS 2 processes (no mocks): starting and stopping processes, the
scene the node tests send (a 96x64 camera looking at a plane), nlspn_node in its own process and
:class:`Harness`, the test's side of the graph.

Importable without ROS: ROS-free tests take ``REPO_ROOT`` from here, so rclpy and the message
packages are imported only where they are used.
"""
from __future__ import annotations

import contextlib
import fcntl
import importlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nlspn_ros.geometry import CameraModel
from nlspn_ros.pipeline import conversions

if TYPE_CHECKING:
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2
    from std_msgs.msg import Header

REPO_ROOT = Path(__file__).resolve().parent.parent
SEC = 1_000_000_000
# the DDS domains test sessions take, one lock file each (conftest.py's ros_domain says why these)
TEST_DOMAINS = range(1, 100)
DOMAIN_LOCK_DIR = Path("/tmp/nlspn_ros_test_domains")

# the scene: a pinhole camera looking at a plane, the LiDAR frame = the camera frame
WIDTH, HEIGHT = 96, 64
CAMERA = CameraModel.pinhole(WIDTH, HEIGHT, fx=60.0, fy=60.0, cx=47.5, cy=31.5)
FRAME, LIDAR_FRAME = "camera_optical", "lidar"
# the node's parameters in the tests (on top of config/nlspn.yaml)
NODE_PARAMS = {
    "device": "cpu",
    "diagnostics_period": 0.2,
    "qos.input_reliability": "reliable",
    "qos.input_depth": 50,
    "lidar_frame": LIDAR_FRAME,
    # the test clouds are in the camera frame: an explicit identity (with none, TF would be asked)
    "t_cam_lidar": np.eye(4).ravel().tolist(),
    "publish.depth_raw": True,
    "publish.sparse_depth": True,
    "publish.points": True,
    "sync.slop": 0.06,
    # room for the 12 images of the 3x-rate test: on a loaded machine the executor may take all of
    # them before the late clouds, and a queue of 10 then overflows (by design, counted as a drop)
    "sync.queue_size": 40,
    # the tests send images before their later clouds, seconds apart on a loaded machine
    "sync.max_wait": 5.0,
}
# the node's outputs, topic -> message type (``package/msg/Type``), all recorded by the Harness
OUTPUTS = {
    "depth/image": "sensor_msgs/msg/Image",
    "depth/camera_info": "sensor_msgs/msg/CameraInfo",
    "confidence/image": "sensor_msgs/msg/Image",
    "confidence/camera_info": "sensor_msgs/msg/CameraInfo",
    "depth/image_raw": "sensor_msgs/msg/Image",
    "sparse_depth/image": "sensor_msgs/msg/Image",
    "sparse_depth/camera_info": "sensor_msgs/msg/CameraInfo",
    "depth/color": "sensor_msgs/msg/Image",
    "rgb/image": "sensor_msgs/msg/Image",
    "rgb/camera_info": "sensor_msgs/msg/CameraInfo",
    "depth/points": "sensor_msgs/msg/PointCloud2",
    "completion": "nlspn_ros/msg/DepthCompletion",
    "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
}
# read as depth_image_proc and RViz read them: best effort (sensor data QoS) as well as reliable
BEST_EFFORT_OUTPUTS = ("depth/image", "rgb/image")


class DomainClaim:
    """A DDS domain this process holds: an exclusive flock on the domain's lock file, released by
    :meth:`release` or when the process ends, however it ends."""

    def __init__(self, domain: int, fd: int) -> None:
        self.domain = domain
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def claim_domain(avoid: Collection[int] = ()) -> DomainClaim:
    """The first domain of :data:`TEST_DOMAINS` (less ``avoid``) that no process holds, now held
    by this one. ``flock`` is atomic and belongs to the open file, so a domain held by another
    session, or already by this process, is skipped."""
    with contextlib.suppress(FileExistsError):
        DOMAIN_LOCK_DIR.mkdir()
        DOMAIN_LOCK_DIR.chmod(0o1777)  # like /tmp: every user's sessions share the host's DDS ports
    for domain in TEST_DOMAINS:
        if domain in avoid:
            continue
        try:
            fd = os.open(DOMAIN_LOCK_DIR / f"{domain}.lock", os.O_RDONLY | os.O_CREAT, 0o666)
        except OSError:  # another user's file we cannot read: not ours to take
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return DomainClaim(domain, fd)
    raise RuntimeError(
        f"every DDS domain in {TEST_DOMAINS.start}..{TEST_DOMAINS.stop - 1} is held (lock files in "
        f"{DOMAIN_LOCK_DIR}): too many test sessions at once?"
    )


def message_class(name: str) -> type:
    """The rclpy message class of ``package/msg/Type``."""
    package, kind, type_name = name.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), type_name)


def start_process(args: list[str], **kwargs) -> subprocess.Popen:
    """Start ``python args...`` from the repository root, output captured for the failure message."""
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **kwargs.pop("env", {})},
        **kwargs,
    )


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> str:
    """SIGINT, then kill if needed; returns everything the process printed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.stdout.read() if proc.stdout else ""


def spin_until(node, condition: Callable[[], bool], timeout: float) -> bool:
    """Spin ``node`` until ``condition()`` holds or ``timeout`` seconds pass."""
    import rclpy

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        rclpy.spin_once(node, timeout_sec=0.05)
    return condition()


def wait_until(condition: Callable[[], object], timeout: float = 20.0, proc=None) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` s pass or ``proc`` exits (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.02)
    return condition()


def ros_arg(name: str, value) -> list[str]:
    """``-p name:=value`` for a ``--ros-args`` command line (booleans in lower case)."""
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


def rgb_image() -> np.ndarray:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    return np.stack([xx * 2, yy * 3, (xx + yy) % 256], axis=2).astype(np.uint8)


def header(stamp_ns: int, frame: str = FRAME) -> Header:
    """A std_msgs Header stamped ``stamp_ns`` in ``frame``."""
    import rclpy.time
    from std_msgs.msg import Header

    return Header(stamp=rclpy.time.Time(nanoseconds=stamp_ns).to_msg(), frame_id=frame)


def make_frame(stamp_ns: int, depth: float, **cloud_kwargs) -> tuple[Image, CameraInfo, PointCloud2]:
    """(Image, CameraInfo, PointCloud2) of the scene stamped ``stamp_ns``: the RGB test image, the
    camera, a plane at ``depth`` m (``cloud_kwargs`` go to :func:`plane_cloud`; ``frame`` is the
    cloud's frame)."""
    from nlspn_ros.ros.messages import camera_info_msg, cloud_msg, image_msg

    frame = cloud_kwargs.pop("frame", LIDAR_FRAME)
    return (
        image_msg(header(stamp_ns), rgb_image(), "rgb8"),
        camera_info_msg(header(stamp_ns), CAMERA.to_camera_info_fields()),
        cloud_msg(header(stamp_ns, frame), plane_cloud(depth, **cloud_kwargs)),
    )


def start_node(checkpoint, domain: int, remap: dict[str, str] | None = None, **params) -> subprocess.Popen:
    """nlspn_node in its own process: config/nlspn.yaml, the test parameters, ``checkpoint`` and
    ``params`` (which win), remappings ``remap``, the shared-memory Fast DDS profile, DDS domain
    ``domain``."""
    params_file = str(REPO_ROOT / "config" / "nlspn.yaml")
    args = ["-m", "nlspn_ros.ros.node", "--ros-args", "--params-file", params_file]
    for name, target in (remap or {}).items():
        args += ["-r", f"{name}:={target}"]
    for name, value in {**NODE_PARAMS, "checkpoint": str(checkpoint), **params}.items():
        args += ros_arg(name, value)
    env = {
        "FASTRTPS_DEFAULT_PROFILES_FILE": str(REPO_ROOT / "config" / "fastdds_shm.xml"),
        "ROS_DOMAIN_ID": str(domain),
    }
    return start_process(args, env=env)


class Harness:
    """The test's side of the graph in DDS domain ``domain``: a node in its own rclpy context,
    spinning in a thread, recording everything it receives on :data:`OUTPUTS` and publishing the
    node's inputs (``pub``: image, camera_info, points)."""

    def __init__(self, domain: int) -> None:
        import rclpy
        from rcl_interfaces.srv import SetParameters
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, Image, PointCloud2

        self.domain = domain
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = Node("nlspn_node_tester", context=self.context)
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.lock = threading.Lock()
        self.received: dict[str, list] = defaultdict(list)
        for topic, kind in OUTPUTS.items():
            self.node.create_subscription(
                message_class(kind), topic, lambda m, t=topic: self._record(t, m), reliable
            )
        for topic in BEST_EFFORT_OUTPUTS:
            self.node.create_subscription(
                Image, topic, lambda m, t=topic: self._record("best_effort:" + t, m), qos_profile_sensor_data
            )
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
        """Publish the given messages (camera_info first); ``stamp_ns`` only labels the call."""
        for name, msg in (("camera_info", info), ("image", image), ("points", cloud)):
            if msg is not None:
                self.pub[name].publish(msg)

    def set_parameters(self, **values) -> list:
        """Set the node's parameters through its service (``a__b`` names ``a.b``); the results."""
        from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
        from rcl_interfaces.srv import SetParameters

        assert self.param_client.wait_for_service(timeout_sec=10.0)
        params = []
        for name, value in values.items():
            if isinstance(value, float):
                pv = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
            elif isinstance(value, bool):
                pv = ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
            elif isinstance(value, int):
                pv = ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
            elif isinstance(value, list):
                pv = ParameterValue(type=ParameterType.PARAMETER_DOUBLE_ARRAY, double_array_value=value)
            else:
                pv = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
            params.append(Parameter(name=name.replace("__", "."), value=pv))
        future = self.param_client.call_async(SetParameters.Request(parameters=params))
        assert self.wait(future.done, 10.0), "SetParameters call did not return"
        return future.result().results

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self.thread.join(timeout=5)


def subscribed_and_reporting(harness: Harness) -> bool:
    """The node subscribes to the harness's inputs and has published /diagnostics."""
    return all(p.get_subscription_count() for p in harness.pub.values()) and bool(harness.counters())
