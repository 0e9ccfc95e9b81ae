"""Shared test fixtures. Data in ../shared is read in place; missing data fails, never skips."""
from __future__ import annotations

from pathlib import Path

import pytest

from nlspn_ros import paths


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"required shared data not found: {path} (set NLSPN_SHARED or put shared/ beside the checkout)")
    return path


@pytest.fixture(scope="session")
def kitti_dir() -> Path:
    return _require(paths.kitti_samples_dir())


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    return _require(paths.golden_dir())
