"""Well-known locations: the repository, the shared data beside it, shipped models."""
from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent


def shared_dir() -> Path:
    """The ``shared/`` folder beside the checkout (override with ``NLSPN_SHARED``)."""
    env = os.environ.get("NLSPN_SHARED")
    return Path(env) if env else REPO_ROOT.parent / "shared"


def kitti_samples_dir() -> Path:
    return shared_dir() / "data" / "kitti_samples"


def kitti_raw_drive_dir() -> Path:
    """The shared real KITTI raw drive (2011_09_26 drive 0005, frames 116-152)."""
    return shared_dir() / "data" / "kitti_raw" / "2011_09_26" / "2011_09_26_drive_0005_sync"


def kitti_city_clip_dir() -> Path:
    """The shared 13-frame KITTI city clip (object layout)."""
    return shared_dir() / "data" / "kitti_city_clip"


def golden_dir() -> Path:
    return shared_dir() / "fixtures" / "nlspn_golden"


# The embedded default model (small configuration trained on synthetic scenes) and its card.
DEFAULT_CHECKPOINT = PACKAGE_DIR / "models" / "default.pt"


def message_definition(name: str) -> str:
    """Text of ``msg/<name>.msg``: from the source tree, else from an installed share/nlspn_ros/msg."""
    candidates = [REPO_ROOT / "msg"]
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / "share" / "nlspn_ros" / "msg")
    candidates.append(Path(sys.prefix) / "share" / "nlspn_ros" / "msg")
    for folder in candidates:
        path = folder / f"{name}.msg"
        if path.is_file():
            return path.read_text()
    raise FileNotFoundError(f"message definition {name}.msg not found in {[str(c) for c in candidates]}")
