"""What ``image_transport: compressed`` costs the node: decoding one KITTI camera frame.

Encodes ../shared/data/kitti_samples/image_2/000001.png (1242x375) as image_transport's compressed
publisher does (OpenCV, jpeg quality 95 by default, png level 3) and times
:func:`nlspn_ros.pipeline.conversions.image_to_rgb` on the CompressedImage (the node's worker-thread step):
median wall and thread CPU over ``--runs``, OpenCV with one thread and with its default pool.

Usage: source scripts/env.sh && python benchmarks/bench_decode.py [--runs 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from types import SimpleNamespace

import cv2
import numpy as np

from nlspn_ros.pipeline import conversions, paths


def measure(msg: SimpleNamespace, runs: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.thread_time()
        conversions.image_to_rgb(msg)
        cpus.append((time.thread_time() - cpu) * 1e3)
        walls.append((time.perf_counter() - wall) * 1e3)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    bgr = cv2.imread(str(paths.kitti_samples_dir() / "image_2" / "000001.png"), cv2.IMREAD_COLOR)
    cases = {
        "jpeg q95": (".jpg", [cv2.IMWRITE_JPEG_QUALITY, 95], "rgb8; jpeg compressed bgr8"),
        "png level 3": (".png", [cv2.IMWRITE_PNG_COMPRESSION, 3], "rgb8; png compressed bgr8"),
    }
    load = os.getloadavg()[0]
    print(f"{bgr.shape[1]}x{bgr.shape[0]}, {os.cpu_count()} cores, load average {load:.1f}, {args.runs} runs")
    for name, (extension, options, fmt) in cases.items():
        data = cv2.imencode(extension, bgr, options)[1]
        msg = SimpleNamespace(format=fmt, data=np.ascontiguousarray(data).ravel())
        decoded = conversions.image_to_rgb(msg)
        assert decoded.shape == bgr.shape
        for threads in (1, -1):
            cv2.setNumThreads(threads)
            wall, cpu = measure(msg, args.runs)
            label = "1 thread" if threads == 1 else "default threads"
            size = f"{data.size / 1024:.0f} KiB"
            print(f"{name} ({size}), {label}: median {wall:.2f} ms wall, {cpu:.2f} ms thread CPU")


if __name__ == "__main__":
    main()
