"""Milliseconds to project 120,000 LiDAR points into a 1216x352 sparse depth image (z-buffer included).

Usage: PYTHONPATH=. .venv/bin/python benchmarks/bench_projection.py [--runs 300] [--compare-zbuffer]
       [--allocator kept|default]
Target (issue 4): median <= 3 ms on the project's 2-core CPU.

As in the node, the calls run in a worker thread with the allocator settings the node applies at
start-up (``nlspn_ros.allocator.keep_freed_memory``); ``--allocator default`` leaves glibc's
defaults, under which every call page-faults its fresh buffers (docs/geometry.md, Speed, has both).

Clouds: the first 120,000 points of the real KITTI sweep 000001 with its calibration, cropped to
the KITTI depth-completion size (1216x352, ~17k points land), and a synthetic cloud with every
point in front of the camera (~60k land: a heavier z-buffer). Reports the median wall time and
the median CPU time of this thread (less sensitive to other processes on a busy machine).
``--compare-zbuffer`` times the z-buffer strategies considered, on the points that land.
"""
from __future__ import annotations

import argparse
import os
import platform
import threading
import time

import numpy as np

from nlspn_ros import paths
from nlspn_ros.allocator import keep_freed_memory
from nlspn_ros.geometry import CameraModel, load_kitti_calib, project_points
from nlspn_ros.geometry.projection import _zbuffer

WIDTH, HEIGHT, POINTS = 1216, 352, 120_000


def measure(function, runs: int) -> tuple[float, float, float]:
    """(median wall ms, p90 wall ms, median thread-CPU ms) over ``runs`` calls after a warm-up,
    in a worker thread (where the node projects)."""
    wall, cpu = [], []

    def work() -> None:
        for _ in range(5):
            function()
        for _ in range(runs):
            start_wall, start_cpu = time.perf_counter(), time.thread_time()
            function()
            cpu.append((time.thread_time() - start_cpu) * 1e3)
            wall.append((time.perf_counter() - start_wall) * 1e3)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    return float(np.median(wall)), float(np.percentile(wall, 90)), float(np.median(cpu))


def kitti_case() -> tuple[np.ndarray, np.ndarray, CameraModel]:
    folder = paths.kitti_samples_dir()
    points = np.fromfile(folder / "velodyne" / "000001.bin", dtype="<f4").reshape(-1, 4)[:POINTS]
    camera, t_cam_lidar = load_kitti_calib(folder / "calib" / "000001.txt", image_size=(1242, 375))
    # KITTI depth completion: bottom-centre 1216x352 crop of the 1242x375 image.
    return points, t_cam_lidar, camera.cropped(13, 375 - HEIGHT, WIDTH, HEIGHT)


def synthetic_case() -> tuple[np.ndarray, np.ndarray, CameraModel]:
    rng = np.random.default_rng(0)
    camera = CameraModel.pinhole(WIDTH, HEIGHT, 721.5, 721.5, 609.6, 172.9)
    z = rng.uniform(2, 80, POINTS)
    u, v = rng.uniform(-200, WIDTH + 200, POINTS), rng.uniform(-50, HEIGHT + 50, POINTS)
    xyz = np.stack([(u - camera.cx) * z / camera.fx, (v - camera.cy) * z / camera.fy, z], axis=1)
    points = np.concatenate([xyz, rng.random((POINTS, 1))], axis=1).astype(np.float32)
    return points, np.eye(4), camera


def compare_zbuffers(points, t_cam_lidar, camera, runs: int) -> None:
    """The strategies considered for 'nearest point wins', on the points that land."""
    result = project_points(points, t_cam_lidar, camera)
    rows, cols = np.nonzero(result.depth)  # recover a landing set with duplicates: reuse depths
    rng = np.random.default_rng(1)
    pick = rng.integers(0, rows.size, result.stats.landed)
    linear = (rows[pick] * WIDTH + cols[pick]).astype(np.int64)
    depth = (result.depth[rows[pick], cols[pick]] * rng.uniform(1, 1.5, pick.size)).astype(np.float32)
    shape = (HEIGHT, WIDTH)

    def minimum_at():
        image = np.zeros(shape, np.float32).ravel()
        image[linear] = np.inf
        np.minimum.at(image, linear, depth)
        return image

    def lexsort_unique():
        order = np.lexsort((depth, linear))
        sorted_linear = linear[order]
        first = np.r_[True, sorted_linear[1:] != sorted_linear[:-1]]
        image = np.zeros(shape, np.float32).ravel()
        image[sorted_linear[first]] = depth[order[first]]
        return image

    def descending_assign():  # relies on "last write wins" for repeated indices: not guaranteed by numpy
        order = np.argsort(-depth)
        image = np.zeros(shape, np.float32).ravel()
        image[linear[order]] = depth[order]
        return image

    reference = _zbuffer(linear, depth, None, shape)[0].ravel()
    for name, function in [
        ("_zbuffer: np.minimum.at (used)", lambda: _zbuffer(linear, depth, None, shape)),
        ("_zbuffer with intensity", lambda: _zbuffer(linear, depth, depth, shape)),
        ("bare np.minimum.at", minimum_at),
        ("np.lexsort + first of each pixel", lexsort_unique),
        ("argsort descending + assign", descending_assign),
    ]:
        output = function()
        image = output[0].ravel() if isinstance(output, tuple) else output
        same = np.array_equal(image, reference)
        median, p90, cpu = measure(function, runs)
        print(f"  {name:36s} median {median:6.3f} ms  p90 {p90:6.3f}  cpu {cpu:6.3f}  same result: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--compare-zbuffer", action="store_true")
    parser.add_argument("--allocator", choices=("kept", "default"), default="kept",
                        help="kept: the node's keep_freed_memory() settings (default); default: glibc's")
    args = parser.parse_args()
    kept = args.allocator == "kept" and keep_freed_memory()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {load:.2f}, numpy {np.__version__}, {POINTS} points -> {WIDTH}x{HEIGHT}, "
          f"allocator {'kept (as the node)' if kept else 'glibc defaults'}, worker thread")
    for label, case in (("KITTI 000001", kitti_case), ("synthetic, all in front", synthetic_case)):
        points, t_cam_lidar, camera = case()
        stats = project_points(points, t_cam_lidar, camera).stats
        print(f"{label}: {stats.landed} land, {stats.pixels} pixels")
        median, p90, cpu = measure(lambda: project_points(points, t_cam_lidar, camera), args.runs)  # noqa: B023
        print(f"  depth only            median {median:6.3f} ms  p90 {p90:6.3f} ms  cpu {cpu:6.3f} ms")
        median, p90, cpu = measure(
            lambda: project_points(points, t_cam_lidar, camera, intensity=points[:, 3]), args.runs  # noqa: B023
        )
        print(f"  depth + intensity     median {median:6.3f} ms  p90 {p90:6.3f} ms  cpu {cpu:6.3f} ms")
        if args.compare_zbuffer:
            compare_zbuffers(points, t_cam_lidar, camera, args.runs)


if __name__ == "__main__":
    main()
