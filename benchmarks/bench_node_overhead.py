"""nlspn_node's own cost per frame at 1216x352 with a 120k-point cloud, beside the model's forward.

Starts the node as its own process (every output enabled and subscribed), publishes one
synthetic KITTI-sized frame at a time from this process and waits for all its outputs. Reports:

* in-node overhead: the node's per-frame time minus the network forward (convert, crop/scale,
  project, the completer's pre/post-processing, mask, build and publish every output);
  median from the node's /diagnostics (``latency_ms.overhead``). Target: <= 10 ms.
* end-to-end minus model: from publishing the inputs here to the last output arriving here,
  minus the node's forward time for that frame: adds DDS transport both ways, (de)serialization,
  pairing and the wait for the worker.
* the model forward (``latency_ms.model``) for comparison.

Usage: source scripts/env.sh && PYTHONPATH=.:$PYTHONPATH python benchmarks/bench_node_overhead.py
       [--frames 15] [--checkpoint PATH]   (default: a random-init small model of the shipped size)
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header

from nlspn_ros.geometry import CameraModel
from nlspn_ros.pipeline.conversions import stamp_to_ns
from nlspn_ros.ros.messages import camera_info_msg, cloud_msg, image_msg
from nlspn_ros.ros.outputs import OUTPUTS as NODE_OUTPUTS

REPO = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT, POINTS = 1216, 352, 120_000
# KITTI-like: LiDAR x forward, y left, z up -> camera optical x right, y down, z forward
T_CAM_LIDAR = [0.0, -1.0, 0.0, 0.0, 0.0, 0.0, -1.0, -0.08, 1.0, 0.0, 0.0, -0.27, 0.0, 0.0, 0.0, 1.0]
OUTPUTS = {o.topic: o.msg_type for o in NODE_OUTPUTS.values()}  # topic -> type of every output of the node



def start_node_process(params: dict[str, str], env: dict[str, str]) -> subprocess.Popen:
    """The node in its own process with ``-p name:=value`` parameters, output piped."""
    command = [sys.executable, "-m", "nlspn_ros.ros.node", "--ros-args"]
    for name, value in params.items():
        command += ["-p", f"{name}:={value}"]
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )

def synthetic_frame(stamp_ns: int) -> tuple[Image, CameraInfo, PointCloud2]:
    rng = np.random.default_rng(0)
    camera = CameraModel.pinhole(WIDTH, HEIGHT, fx=721.5, fy=721.5, cx=609.6, cy=172.9)
    header = Header(stamp=rclpy.time.Time(nanoseconds=stamp_ns).to_msg(), frame_id="camera_optical")
    rgb = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    # a 360-degree scan: 64 beams, about a third of the points in front of the camera
    azimuth = rng.uniform(-np.pi, np.pi, POINTS)
    elevation = np.deg2rad(rng.uniform(-24.8, 2.0, POINTS))
    distance = rng.uniform(3.0, 60.0, POINTS)
    xyz = np.stack(
        [
            distance * np.cos(elevation) * np.cos(azimuth),
            distance * np.cos(elevation) * np.sin(azimuth),
            distance * np.sin(elevation),
        ],
        axis=1,
    ).astype(np.float32)
    intensity = rng.integers(0, 256, (POINTS, 3), dtype=np.uint8)  # a 4th float field, like intensity
    cloud_header = Header(stamp=header.stamp, frame_id="velodyne")
    return (
        image_msg(header, rgb, "rgb8"),
        camera_info_msg(header, camera.to_camera_info_fields()),
        cloud_msg(cloud_header, xyz, intensity),
    )


def small_checkpoint(folder: Path) -> Path:
    import torch

    from nlspn_ros.model import NLSPNConfig, NLSPNModel, save_checkpoint

    torch.manual_seed(0)
    config = NLSPNConfig.small()
    return save_checkpoint(folder / "small_random.pt", NLSPNModel(config), config)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=15)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_node_"))
    checkpoint = args.checkpoint or small_checkpoint(tmp)
    env = {
        **os.environ,
        "FASTRTPS_DEFAULT_PROFILES_FILE": str(REPO / "config" / "fastdds_shm.xml"),
        "ROS_DOMAIN_ID": os.environ.get("ROS_DOMAIN_ID", str(150 + os.getpid() % 50)),
    }
    os.environ.update(env)
    params = {
        "checkpoint": str(checkpoint),
        "device": args.device,
        "qos.input_reliability": "reliable",
        "t_cam_lidar": "[" + ",".join(map(str, T_CAM_LIDAR)) + "]",
        "publish.depth_raw": "true",
        "publish.sparse_depth": "true",
        "publish.points": "true",
        "diagnostics_period": "0.5",
    }
    node_proc = start_node_process(params, env)
    rclpy.init()
    node = Node("bench_node_overhead")
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    arrivals: dict[tuple[str, int], float] = {}
    diagnostics: list[dict[str, str]] = []
    lock = threading.Lock()

    def record(topic: str, msg) -> None:
        with lock:
            arrivals[(topic, stamp_to_ns(msg.header.stamp))] = time.perf_counter()

    for topic, cls in OUTPUTS.items():
        node.create_subscription(cls, topic, lambda m, t=topic: record(t, m), qos)
    node.create_subscription(
        DiagnosticArray,
        "/diagnostics",
        lambda m: diagnostics.append({kv.key: kv.value for kv in m.status[0].values}),
        10,
    )
    pubs = {
        name: node.create_publisher(cls, name, qos)
        for name, cls in (("image", Image), ("camera_info", CameraInfo), ("points", PointCloud2))
    }
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()

    def wait(condition, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and node_proc.poll() is None:
            if condition():
                return True
            time.sleep(0.002)
        return condition()

    try:
        if not wait(lambda: all(p.get_subscription_count() for p in pubs.values()) and diagnostics, 60):
            raise RuntimeError("nlspn_node did not come up")
        end_to_end, model_times = [], []
        for index in range(args.frames + 2):  # the first two are warm-up
            stamp = (1000 + index) * 1_000_000_000
            image, info, cloud = synthetic_frame(stamp)
            sent = time.perf_counter()
            pubs["camera_info"].publish(info)
            pubs["image"].publish(image)
            pubs["points"].publish(cloud)
            pubs["points"].publish(synthetic_frame(stamp + 1)[2])  # a later scan lets the pairing decide
            if not wait(lambda s=stamp: all((t, s) in arrivals for t in OUTPUTS), 120):
                raise RuntimeError(f"frame {index}: not all outputs arrived")
            count = len(diagnostics)
            wait(lambda c=count: len(diagnostics) > c, 5)
            if index >= 2:
                end_to_end.append(max(arrivals[(t, stamp)] for t in OUTPUTS) - sent)
                model_times.append(float(diagnostics[-1]["latency_ms.model.last"]))
        last = diagnostics[-1]
        e2e_ms = np.array(end_to_end) * 1e3
        print(
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"device {args.device}, {WIDTH}x{HEIGHT}, {POINTS} points, {args.frames} frames, all outputs on"
        )
        print(f"checkpoint: {checkpoint}")
        for stage in ("convert", "project", "infer", "mask", "publish", "overhead", "model"):
            print(f"  node {stage:9s} median {float(last[f'latency_ms.{stage}.median']):8.2f} ms")
        print(
            f"in-node overhead (all but the network forward): median "
            f"{float(last['latency_ms.overhead.median']):.2f} ms (target <= 10 ms)"
        )
        own = sum(
            float(last[f"latency_ms.{stage}.median"]) for stage in ("convert", "project", "mask", "publish")
        )
        completer = float(last["latency_ms.infer.median"]) - float(last["latency_ms.model.median"])
        print(
            f"  of which the node's own steps (convert+project+mask+publish, sum of medians) {own:.2f} ms, "
            f"the completer's pre/post-processing (infer - model) {completer:.2f} ms"
        )
        print(
            f"end-to-end minus model (adds DDS both ways, pairing, (de)serialization): median "
            f"{np.median(e2e_ms - np.array(model_times)):.2f} ms"
        )
        print(f"model forward: median {np.median(model_times):.1f} ms")
        return 0
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
        node_proc.send_signal(signal.SIGINT)
        try:
            node_proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node_proc.kill()
        if node_proc.returncode not in (0, -signal.SIGINT):
            print(node_proc.stdout.read() if node_proc.stdout else "", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
