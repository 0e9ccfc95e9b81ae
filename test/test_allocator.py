"""keep_freed_memory: per-frame work in a worker thread stops page-faulting its buffers.

Each case runs in its own interpreter (the allocator settings are process-wide) and counts the
minor page faults of a worker thread projecting the real KITTI sweep (../shared) with intensities,
as the node does every frame.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import resource, sys, threading
import numpy as np
from nlspn_ros.allocator import keep_freed_memory
from nlspn_ros import paths
from nlspn_ros.geometry import load_kitti_calib, project_points

if sys.argv[1] == "kept":
    assert keep_freed_memory(), "mallopt refused"
# the real KITTI sweep and calibration (SOURCES.md), cropped to the depth-completion size
folder = paths.kitti_samples_dir()
points = np.fromfile(folder / "velodyne" / "000001.bin", dtype="<f4").reshape(-1, 4)
camera, t_cam_lidar = load_kitti_calib(folder / "calib" / "000001.txt", image_size=(1242, 375))
camera = camera.cropped(13, 375 - 352, 1216, 352)
faults = []

def frames(count):
    for _ in range(count):
        project_points(points, t_cam_lidar, camera, intensity=points[:, 3])

def work():
    frames(8)
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    frames(20)
    faults.append((resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before) / 20)

thread = threading.Thread(target=work)
thread.start()
thread.join()
print(faults[0])
"""


def faults_per_frame(mode: str) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return float(out.stdout.strip())


def test_kept_memory_removes_the_page_faults_of_per_frame_buffers(kitti_dir):
    default, kept = faults_per_frame("default"), faults_per_frame("kept")
    assert default > 200, f"glibc defaults page-fault the fresh buffers ({default} faults a frame)"
    assert kept < 20, f"with keep_freed_memory a frame reuses the heap ({kept} faults a frame)"
