"""Synthetic frames cached as compressed ``.npz`` files (one per seed), so training reads, not renders.

A cached frame holds ``rgb``, ``depth_gt``, ``sparse``, ``K`` (3x3), ``kind`` and ``seed``; the
LiDAR points are not stored (training needs the projected sparse depth only).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from nlspn_ros.data.synthetic import render_frame

FILE_PATTERN = "frame_{seed:07d}.npz"


def frame_path(cache_dir: str | Path, seed: int) -> Path:
    return Path(cache_dir) / FILE_PATTERN.format(seed=seed)


def cache_frames(
    seeds: Iterable[int], cache_dir: str | Path, width: int = 1216, height: int = 352, progress: bool = False
) -> list[Path]:
    """Render every seed not cached yet into ``cache_dir``; returns the paths of all requested seeds."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    seeds = list(seeds)
    paths = []
    iterator = seeds
    if progress:
        from tqdm import tqdm

        iterator = tqdm(seeds, desc="render", unit="frame")
    for seed in iterator:
        path = frame_path(cache_dir, seed)
        if not path.exists():
            frame = render_frame(seed, width, height)
            tmp = path.with_name(path.stem + ".tmp.npz")
            np.savez_compressed(
                tmp,
                rgb=frame.rgb,
                depth_gt=frame.depth_gt,
                sparse=frame.sparse,
                K=frame.camera.k,
                kind=frame.kind,
                seed=seed,
            )
            tmp.replace(path)
        paths.append(path)
    return paths


def load_cached(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


if __name__ == "__main__":  # python -m nlspn_ros.data.cache CACHE_DIR FIRST_SEED COUNT
    import sys

    start = time.perf_counter()
    out, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    cache_frames(range(first, first + count), out, progress=True)
    print(f"{count} frames in {time.perf_counter() - start:.0f} s")
