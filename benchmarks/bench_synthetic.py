"""Milliseconds per synthetic frame (scene, ray casting, LiDAR sweep, projection) at 1216x352.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/bench_synthetic.py [--frames 10]
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from nlspn_ros.data.synthetic import render_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=2_000_000)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, 1216x352")
    times, density = {"street": [], "indoor": []}, []
    for seed in range(args.first_seed, args.first_seed + args.frames):
        start = time.perf_counter()
        frame = render_frame(seed)
        times[frame.kind].append((time.perf_counter() - start) * 1e3)
        density.append((frame.sparse > 0).mean())
    for kind, values in times.items():
        if values:
            median, worst = np.median(values), np.max(values)
            print(f"{kind:7s} {len(values):3d} frames  median {median:7.0f} ms  max {worst:7.0f} ms")
    low, mid, high = np.min(density), np.median(density), np.max(density)
    print(f"valid pixels: median {mid:.2%} (min {low:.2%}, max {high:.2%})")


if __name__ == "__main__":
    main()
