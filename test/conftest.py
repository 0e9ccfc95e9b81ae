"""Shared test fixtures. Data in ../shared is read in place; missing data fails, never skips."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from nlspn_ros import paths

# ROS tests run real processes: give this test session its own DDS domain (children inherit
# it) so parallel runs on one machine do not see each other, and keep discovery on localhost.
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(
            f"required shared data not found: {path} (set NLSPN_SHARED or put shared/ beside the checkout)"
        )
    return path


@pytest.fixture(scope="session")
def kitti_dir() -> Path:
    return _require(paths.kitti_samples_dir())


@pytest.fixture(scope="session")
def raw_drive() -> Path:
    """The shared KITTI raw drive 2011_09_26_drive_0005_sync (frames 116-152)."""
    return _require(paths.kitti_raw_drive_dir())


@pytest.fixture(scope="session")
def city_clip() -> Path:
    return _require(paths.kitti_city_clip_dir())


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    return _require(paths.golden_dir())


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """A small random-init NLSPN (seed 0, prop_time 2) saved in the project's checkpoint format:
    the model the node and bag tests run on the CPU."""
    import torch

    from nlspn_ros.model import NLSPNConfig, NLSPNModel, save_checkpoint

    torch.manual_seed(0)
    config = NLSPNConfig.small(prop_time=2)
    return save_checkpoint(tmp_path_factory.mktemp("model") / "small.pt", NLSPNModel(config), config)
