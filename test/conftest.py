"""Shared test fixtures. Data in ../shared is read in place; missing data fails, never skips."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from nlspn_ros import paths

from ros_util import claim_domain

# ROS tests run real processes in DDS domains from one allocator (ros_domain below). Its first claim
# is this session's own domain, held until pytest exits: ROS_DOMAIN_ID, which child processes
# inherit, for the tests that take no domain from ros_domain. An inherited ROS_DOMAIN_ID (the
# shell's robot or demo) is replaced and never handed out. Discovery stays on localhost.
_AVOID = {int(os.environ["ROS_DOMAIN_ID"])} if os.environ.get("ROS_DOMAIN_ID", "").isdigit() else set()
_SESSION_DOMAIN = claim_domain(avoid=_AVOID)
os.environ["ROS_DOMAIN_ID"] = str(_SESSION_DOMAIN.domain)
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


@pytest.fixture(scope="module")
def ros_domain():
    """``ros_domain()`` hands out a DDS domain that no other process uses: a new one at each
    call, held until the module's tests are done. test_node's module harness takes one for its
    node process; each test that starts a node of its own takes another, where no harness listens.

    How: one lock file per domain in ``/tmp/nlspn_ros_test_domains``, taken with a non-blocking
    ``flock`` (ros_util.claim_domain). A domain from the pid modulo n collides whenever two
    sessions' pids agree modulo n, and nothing notices; a lock is checked by the kernel. It is
    atomic between concurrent sessions (a CI clone beside a checkout), it belongs to the open file,
    so a domain this session already holds (its own ROS_DOMAIN_ID included) is not handed out
    again, and it goes when the process does, even on SIGKILL: no stale state to clean up.

    Which: 1..99. Not 0, the default domain of whatever is started by hand (ros2 CLI, the demo);
    inside the 0..101 that ROS 2 recommends on Linux (Fast DDS ports are 7400 + 250 * domain + ...:
    above 101 they reach the ephemeral port range; Fast DDS's hard limit is 232); and apart from
    the pid-derived domains of older checkouts (100..232) and of the benchmarks (150..199), so a
    session of those running beside this one cannot collide with it either. A session holds its
    own domain and a few per module: 99 leave room for many sessions.

    Module scope, as a factory: test_node's harness is a module fixture and cannot use a
    function-scoped one, while the module's own-node tests need domains other than the harness's;
    handing out per call serves both. Teardown comes after the fixtures that use it, so a domain's
    processes are stopped before it is given back."""
    claims = []

    def claim() -> int:
        claims.append(claim_domain(avoid=_AVOID))
        return claims[-1].domain

    yield claim
    for held in claims:
        held.release()


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
