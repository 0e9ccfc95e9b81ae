"""nlspn_node's own CPU time per frame (thread CPU, not wall): robust on a shared, loaded machine.

Runs ``NLSPNNode.process`` in this process on one synthetic 1216x352 frame with a 120k-point
cloud (the frame of bench_node_overhead.py), every output enabled (``--default-outputs``: only
those on by default) and subscribed by a second node here (raw subscriptions: they do not
deserialize). The network forward is replaced by a stand-in (``pred = sparse + 5``, confidence
0.7), timed on its own and subtracted, so the figure is the node's overhead: convert, project, the
completer's pre/post-processing, mask, build and publish, with the node's allocator settings
(``keep_freed_memory``). The thread CPU of each step is printed below it (the node's functions
and each publisher's ``publish``, wrapped here). Wall time is printed beside it; on a busy
machine wall is about CPU x load / cores.

Usage: source scripts/env.sh && PYTHONPATH=.:$PYTHONPATH python benchmarks/bench_node_cpu.py
       [--frames 20] [--default-outputs]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import rclpy
import torch
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_node_overhead as frame_source  # noqa: E402 - the same synthetic frame and outputs

from nlspn_ros.allocator import keep_freed_memory  # noqa: E402
from nlspn_ros.pipeline import frame as frames  # noqa: E402
from nlspn_ros.pipeline.pairing import Pair  # noqa: E402
from nlspn_ros.ros.node import NLSPNNode  # noqa: E402


class StandInForward(torch.nn.Module):
    """Instead of the network: cheap outputs of the right shape; its thread CPU is recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.cpu_ms: list[float] = []

    def forward(self, rgb: torch.Tensor, sparse: torch.Tensor) -> dict[str, torch.Tensor]:
        start = time.thread_time()
        out = {"pred": sparse + 5.0, "confidence": torch.full_like(sparse, 0.7)}
        self.cpu_ms.append((time.thread_time() - start) * 1e3)
        return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--default-outputs", action="store_true", help="only the outputs on by default")
    args = parser.parse_args()
    keep_freed_memory()  # as the node's main() does
    os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))
    rclpy.init()
    checkpoint = frame_source.small_checkpoint(Path(tempfile.mkdtemp(prefix="bench_node_cpu_")))
    params = [
        Parameter("checkpoint", value=str(checkpoint)),
        Parameter("device", value="cpu"),
        Parameter("t_cam_lidar", value=[float(x) for x in frame_source.T_CAM_LIDAR]),
    ]
    if not args.default_outputs:
        optional = ("depth_raw", "sparse_depth", "points")
        params += [Parameter(f"publish.{name}", value=True) for name in optional]
    node = NLSPNNode(parameter_overrides=params)
    node.trigger_configure()  # what main() does with autostart
    node.trigger_activate()
    stand_in = StandInForward()
    node.completer.model = stand_in
    node._default_prop_time = None  # the stand-in has no propagation steps
    stages: dict[str, list[float]] = defaultdict(list)  # thread CPU ms of each step, every frame

    def timed(owner, name: str, label: str) -> None:
        original = getattr(owner, name)

        def wrapper(*a, **kw):
            start = time.thread_time()
            result = original(*a, **kw)
            stages[label].append((time.thread_time() - start) * 1e3)
            return result

        setattr(owner, name, wrapper)

    timed(node, "_publish", "build + publish, in all (derived outputs, messages, rclpy publish)")
    for name in ("prepare_inputs", "project", "mask_depth", "depth_to_millimetres", "colorize_depth",
                 "depth_to_points"):
        timed(frames, name, name)
    timed(node.completer, "complete", "completer (incl. stand-in forward)")
    for key, publisher in node.pub.items():
        timed(publisher, "publish", f"rclpy publish {key}")
    sink = Node("bench_node_cpu_sink")
    qos = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
    received: set[str] = set()
    for topic, cls in frame_source.OUTPUTS.items():
        sink.create_subscription(cls, topic, lambda _m, t=topic: received.add(t), qos, raw=True)
    executor = SingleThreadedExecutor()
    executor.add_node(sink)
    threading.Thread(target=executor.spin, daemon=True).start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(node._wanted(node.settings).values()):
            time.sleep(0.1)
        image, info, cloud = frame_source.synthetic_frame(10**18)
        pair = Pair(image, info, cloud, 10**18, 10**18, 10**18)
        settings = node.settings
        cpu, wall = [], []
        for index in range(args.frames + 2):  # the first two are warm-up
            start_cpu, start_wall = time.thread_time(), time.perf_counter()
            node.process(pair, settings)
            if index >= 2:
                wall.append((time.perf_counter() - start_wall) * 1e3)
                cpu.append((time.thread_time() - start_cpu) * 1e3 - stand_in.cpu_ms[-1])
        time.sleep(0.5)
        outputs = "default outputs" if args.default_outputs else "all outputs"
        print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, 1216x352, 120k points, "
              f"{outputs} ({len(received)} topics received), {args.frames} frames")
        print(f"node overhead, thread CPU: median {statistics.median(cpu):.1f} ms (target <= 10 ms)")
        print(f"  stand-in forward (subtracted): median {statistics.median(stand_in.cpu_ms[2:]):.2f} ms")
        for label, samples in stages.items():
            print(f"  {label}: median {statistics.median(samples[2:]):.2f} ms")
        print(f"node overhead, wall (incl. the stand-in forward): median {statistics.median(wall):.1f} ms")
        return 0
    finally:
        executor.shutdown()
        sink.destroy_node()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
