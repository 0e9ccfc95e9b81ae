"""Bag tools throughput: streaming read (mcap, sqlite3), and replay -> record through DDS.

Usage: source scripts/env.sh && python benchmarks/bench_bag_tools.py [--frames 50]
Prints medians; figures depend on the machine (report them with it).
Targets: reading is far faster than the model (>= 200 MB/s); replay -> record delivers every
1216x352 frame (rgb8 + 32FC1 ground truth + 120k-point cloud) byte-exact at >= 10 Hz.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from nlspn_ros.bag.reader import BagReader
from nlspn_ros.bag.writer import BagWriter, cloud_msg, image_msg


def write_bag(path: Path, storage: str, frames: int) -> int:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (352, 1216, 3), dtype=np.uint8)
    depth = rng.uniform(1, 80, (352, 1216)).astype(np.float32)
    cloud = rng.normal(0, 20, (120_000, 3)).astype(np.float32)
    with BagWriter(path, storage) as writer:
        for i in range(frames):
            stamp = i * 100_000_000
            writer.write("/camera/image", image_msg(rgb, "rgb8", stamp), stamp)
            writer.write("/camera/ground_truth_depth", image_msg(depth, "32FC1", stamp), stamp)
            writer.write("/lidar/points", cloud_msg(cloud, stamp + 3_000_000), stamp + 3_000_000)
    return sum(f.stat().st_size for f in path.iterdir())


def bench_read(path: Path, size: int, repeats: int = 3) -> float:
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for message in BagReader(path).messages():
            assert message.msg is not None
        rates.append(size / (time.perf_counter() - start) / 1e6)
    return statistics.median(rates)


def bench_replay_record(path: Path, out: Path, rate: float) -> tuple[float, bool]:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from nlspn_ros.ros.bag_io import BagPlayer, Recorder

    rclpy.init()
    node = Node("bench_bag_tools")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    try:
        player = BagPlayer(node, path, rate=rate, publish_clock=False)
        recorder = Recorder(node, out, dict(player.reader.topics))
        player.wait_for_subscribers(player.publishers, timeout=10)
        start = time.perf_counter()
        counts = player.play()
        player.wait_for_delivery(30)
        deadline = time.monotonic() + 30
        while recorder.counts != counts and time.monotonic() < deadline:
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        recorder.close()
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    frames = counts["/camera/image"]
    exact = all(
        [m.rawdata for m in BagReader(path).messages([t], decode=False)]
        == [m.rawdata for m in BagReader(out).messages([t], decode=False)]
        for t in counts
    )
    return frames / elapsed, exact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--rate", type=float, default=4.0, help="replay speed factor (bag is 10 Hz)")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        for storage in ("mcap", "sqlite3"):
            path = Path(tmp) / storage
            size = write_bag(path, storage, args.frames)
            rate = bench_read(path, size)
            print(f"read {storage}: {rate:.0f} MB/s ({size / 1e6:.0f} MB, {args.frames} frames)")
        fps, exact = bench_replay_record(Path(tmp) / "mcap", Path(tmp) / "recorded", args.rate)
        print(f"replay -> record at rate {args.rate} (target {10 * args.rate:.0f} Hz): {fps:.1f} frames/s, "
              f"all delivered byte-exact: {exact}")


if __name__ == "__main__":
    main()
