"""Milliseconds per frame of the classical completers at KITTI size (1216x352, ~5% of pixels valid).

Usage: PYTHONPATH=. .venv/bin/python benchmarks/bench_baseline.py [--frames 50]
Reference: IP-Basic reports about 11 ms a frame on one CPU core (Ku et al., 2018).
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import cv2
import numpy as np

from nlspn_ros.completion.ip_basic import IPBasicCompleter, NearestCompleter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads (1 = one core, as the paper)")
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)

    rng = np.random.default_rng(0)
    height, width = 352, 1216
    rgb = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    sparse = np.zeros((height, width), np.float32)
    mask = rng.random((height, width)) < 0.05
    mask[:100] = False  # no returns above the top beam, as in KITTI
    sparse[mask] = rng.uniform(2, 80, mask.sum())

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"OpenCV threads {args.threads}, {width}x{height}, {mask.mean():.1%} valid")
    for completer in (IPBasicCompleter(), IPBasicCompleter(extrapolate=False), NearestCompleter()):
        completer.complete(rgb, sparse)  # warm-up
        times = []
        for _ in range(args.frames):
            start = time.perf_counter()
            completer.complete(rgb, sparse)
            times.append((time.perf_counter() - start) * 1e3)
        label = completer.name + ("" if getattr(completer, "extrapolate", True) else " (no extrapolation)")
        print(f"{label:32s} median {np.median(times):7.2f} ms  p90 {np.percentile(times, 90):7.2f} ms")


if __name__ == "__main__":
    main()
