"""Overload soak of nlspn_node: a 30 Hz camera and a 10 Hz LiDAR for minutes, the model slower than both.

Starts the node as its own process (the embedded default model unless --checkpoint, default outputs,
sensor-data QoS on the inputs), publishes a synthetic KITTI-sized frame (1216x352 rgb8 + CameraInfo at
30 Hz, a 120k-point cloud at 10 Hz, stamped with the current time) from this process, subscribes to
``depth/image`` and /diagnostics, and samples the node's resident memory every few seconds. Reports:

* node RSS over time (after a warm-up): first, last, min, max and the growth first -> last;
* latency of each published depth image (arrival here - image stamp): median, p90, p99, max;
* the /diagnostics counters: pairs made, completed, superseded, dropped, bad input, failed.

Not a test: a benchmark whose figures go into docs/node.md.
Usage: source scripts/env.sh && python benchmarks/bench_node_soak.py [--duration 330] [--warmup 30]
       [--checkpoint PATH] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_node_overhead import (  # noqa: E402
    HEIGHT,
    POINTS,
    T_CAM_LIDAR,
    WIDTH,
    start_node_process,
    synthetic_frame,
)

from nlspn_ros.pipeline.conversions import stamp_to_ns  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=330.0, help="seconds of load after the warm-up")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds of load before measuring")
    parser.add_argument("--checkpoint", default="", help="default: the embedded default model")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    env = {
        **os.environ,
        "FASTRTPS_DEFAULT_PROFILES_FILE": str(REPO / "config" / "fastdds_shm.xml"),
        "ROS_DOMAIN_ID": os.environ.get("ROS_DOMAIN_ID", str(150 + os.getpid() % 50)),
    }
    os.environ.update(env)
    params = {
        **({"checkpoint": args.checkpoint} if args.checkpoint else {}),
        "device": args.device,
        "t_cam_lidar": "[" + ",".join(map(str, T_CAM_LIDAR)) + "]",
        "diagnostics_period": "1.0",
    }
    node_proc = start_node_process(params, env)
    rclpy.init()
    node = Node("bench_node_soak")
    lock = threading.Lock()
    latencies: list[tuple[float, float]] = []  # (monotonic arrival, latency s)
    diagnostics: list[dict[str, str]] = []
    measuring = threading.Event()

    def on_depth(msg: Image) -> None:
        latency = (node.get_clock().now().nanoseconds - stamp_to_ns(msg.header.stamp)) * 1e-9
        if measuring.is_set():
            with lock:
                latencies.append((time.monotonic(), latency))

    node.create_subscription(
        Image, "depth/image", on_depth, QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    )
    node.create_subscription(
        DiagnosticArray,
        "/diagnostics",
        lambda m: diagnostics.append({kv.key: kv.value for kv in m.status[0].values}),
        10,
    )
    image, info, cloud = synthetic_frame(0)
    pubs = {
        "image": node.create_publisher(Image, "image", qos_profile_sensor_data),
        "camera_info": node.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data),
        "points": node.create_publisher(PointCloud2, "points", qos_profile_sensor_data),
    }
    sent = {"image": 0, "points": 0}

    def camera() -> None:
        stamp = node.get_clock().now().to_msg()
        image.header.stamp = info.header.stamp = stamp
        pubs["camera_info"].publish(info)
        pubs["image"].publish(image)
        if measuring.is_set():
            sent["image"] += 1

    def lidar() -> None:
        cloud.header.stamp = node.get_clock().now().to_msg()
        pubs["points"].publish(cloud)
        if measuring.is_set():
            sent["points"] += 1

    executor = MultiThreadedExecutor(num_threads=3)
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    try:
        deadline = time.monotonic() + 120
        while not (all(p.get_subscription_count() for p in pubs.values()) and diagnostics):
            if time.monotonic() > deadline or node_proc.poll() is not None:
                node_proc.kill()
                raise RuntimeError(f"nlspn_node did not come up:\n{node_proc.communicate()[0]}")
            time.sleep(0.1)
        node.create_timer(1 / 30, camera)
        node.create_timer(1 / 10, lidar)
        time.sleep(args.warmup)
        first = dict(diagnostics[-1])
        measuring.set()
        start = time.monotonic()
        rss: list[tuple[float, float]] = []
        while time.monotonic() - start < args.duration:
            rss.append((time.monotonic() - start, rss_mb(node_proc.pid)))
            time.sleep(5.0)
        measuring.clear()
        time.sleep(3.0)
        last = dict(diagnostics[-1])
    finally:
        executor.shutdown()
        node_proc.send_signal(2)
        try:
            node_proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            node_proc.kill()

    def delta(prefix: str) -> int:
        return sum(int(v) for k, v in last.items() if k.startswith(prefix)) - sum(
            int(v) for k, v in first.items() if k.startswith(prefix)
        )

    memory = np.array([m for _, m in rss])
    lat = np.array([latency for _, latency in latencies]) * 1e3
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"device {args.device}, model {args.checkpoint or 'embedded default'}, "
        f"{WIDTH}x{HEIGHT} rgb8 at 30 Hz, {POINTS} points at 10 Hz"
    )
    print(
        f"measured {args.duration:.0f} s after a {args.warmup:.0f} s warm-up; "
        f"node exit status {node_proc.returncode}"
    )
    print(
        f"node RSS MB: first {memory[0]:.0f}, last {memory[-1]:.0f}, min {memory.min():.0f}, "
        f"max {memory.max():.0f}, growth first->last {100 * (memory[-1] / memory[0] - 1):+.2f}% "
        f"({len(memory)} samples)"
    )
    print(
        f"depth images: {lat.size}; latency ms median {np.median(lat):.0f}, "
        f"p90 {np.percentile(lat, 90):.0f}, p99 {np.percentile(lat, 99):.0f}, max {lat.max():.0f}"
    )
    print(
        f"sent: {sent['image']} images, {sent['points']} clouds; node counters over the window: "
        f"pairs.made {delta('pairs.made')}, frames.completed {delta('frames.completed')}, "
        f"frames.superseded {delta('frames.superseded')}, dropped.image {delta('dropped.image.')}, "
        f"bad_input {delta('bad_input.')}, frames.failed {delta('frames.failed')}"
    )
    print(
        f"model forward median {float(last.get('latency_ms.model.median', 'nan')):.0f} ms, "
        f"total median {float(last.get('latency_ms.total.median', 'nan')):.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
