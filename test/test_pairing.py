"""Approximate-time pairing: nearest cloud, camera faster than LiDAR, drops by reason, resets."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlspn_ros.pipeline.pairing import (
    CAMERA_INFO,
    CLOUD,
    IMAGE,
    NO_CAMERA_INFO,
    NO_CLOUD,
    RESET,
    UNPAIRED,
    ApproximateTimePairer,
    Dropped,
    Pair,
    Reset,
)

MS = 1_000_000


def run(pairer: ApproximateTimePairer, arrivals: list[tuple[str, int]], flush: bool = True) -> list:
    """Feed (stream, stamp_ns) arrivals; the message payload is (stream, stamp)."""
    events = []
    for stream, stamp in arrivals:
        events += pairer.add(stream, stamp, (stream, stamp))
    if flush:
        events += pairer.flush()
    return events


def pairs_of(events) -> list[tuple[int, int, int]]:
    return [(e.image_ns, e.cloud_ns, e.camera_info_ns) for e in events if isinstance(e, Pair)]


def camera_and_lidar(duration_ms: int, camera_hz: int, lidar_hz: int, lidar_latency_ms: int) -> list:
    """Arrival order of a camera (image + info, same stamp) and a LiDAR whose clouds arrive late."""
    arrivals = []
    for k in range(duration_ms * camera_hz // 1000):
        t = k * 1000 // camera_hz * MS
        arrivals += [(t + 2 * MS, IMAGE, t), (t + 2 * MS, CAMERA_INFO, t)]
    for k in range(duration_ms * lidar_hz // 1000):
        t = k * 1000 // lidar_hz * MS + 7 * MS
        arrivals.append((t + lidar_latency_ms * MS, CLOUD, t))
    arrivals.sort(key=lambda a: a[0])
    return [(stream, stamp) for _, stream, stamp in arrivals]


def test_camera_three_times_faster_than_lidar_pairs_each_image_with_nearest_scan() -> None:
    arrivals = camera_and_lidar(1000, camera_hz=30, lidar_hz=10, lidar_latency_ms=80)
    pairer = ApproximateTimePairer(slop_s=0.06, queue_size=10)
    events = run(pairer, arrivals)
    pairs = pairs_of(events)
    images = [s for st_, s in arrivals if st_ == IMAGE]
    clouds = [s for st_, s in arrivals if st_ == CLOUD]
    assert [p[0] for p in pairs] == images  # every image paired, in order
    for image_ns, cloud_ns, info_ns in pairs:
        assert info_ns == image_ns
        assert cloud_ns == min(clouds, key=lambda c: (abs(c - image_ns), c))
    images_per_scan = [n for _, n in sorted(Counter(p[1] for p in pairs).items())]
    assert images_per_scan[1:-1] == [3] * 8  # one scan serves three images (the edges serve 2 and 4)
    assert pairer.dropped == Counter()


def test_tight_slop_drops_images_with_reason() -> None:
    arrivals = camera_and_lidar(1000, camera_hz=30, lidar_hz=10, lidar_latency_ms=20)
    pairer = ApproximateTimePairer(slop_s=0.01, queue_size=10)
    events = run(pairer, arrivals)
    pairs = pairs_of(events)
    drops = [e for e in events if isinstance(e, Dropped)]
    assert len(pairs) == 10  # images within 10 ms of a scan (scan at 7 ms after 0, 100, ...)
    assert all(abs(c - i) <= 10 * MS for i, c, _ in pairs)
    assert pairer.dropped[(IMAGE, NO_CLOUD)] == 20
    assert sum(1 for d in drops if d.stream == IMAGE) == 20


def test_image_waits_for_a_later_cloud_before_choosing() -> None:
    pairer = ApproximateTimePairer(slop_s=0.05, queue_size=5)
    assert run(pairer, [(CLOUD, 90 * MS), (CAMERA_INFO, 100 * MS), (IMAGE, 100 * MS)], flush=False) == []
    events = pairer.add_cloud(105 * MS, "later")
    (pair,) = [e for e in events if isinstance(e, Pair)]
    assert pair.cloud == "later" and pair.cloud_offset_ns == 5 * MS


def test_decide_oldest_pairs_a_kitti_image_whose_sweep_came_first() -> None:
    """KITTI: the sweep is stamped ~10 ms before the camera; the last image of a recording gets no
    later cloud. decide_oldest (the node's sync.max_wait deadline) pairs it with the clouds known,
    as the end of a bag (flush) does offline."""
    arrivals = [(CAMERA_INFO, 100 * MS), (CLOUD, 90 * MS), (IMAGE, 100 * MS)]
    waiting = ApproximateTimePairer(slop_s=0.05, queue_size=5)
    assert run(waiting, arrivals, flush=False) == [] and waiting.oldest_image_ns == 100 * MS
    decided = waiting.decide_oldest()
    assert pairs_of(decided) == [(100 * MS, 90 * MS, 100 * MS)]
    assert waiting.oldest_image_ns is None and waiting.decide_oldest() == []
    flushed = ApproximateTimePairer(slop_s=0.05, queue_size=5)
    assert pairs_of(run(flushed, arrivals)) == pairs_of(decided)


def test_exact_camera_info_preferred_over_nearer_in_arrival() -> None:
    pairer = ApproximateTimePairer(slop_s=0.05, queue_size=5)
    arrivals = [
        (CAMERA_INFO, 99 * MS),
        (CAMERA_INFO, 100 * MS),
        (CAMERA_INFO, 101 * MS),
        (IMAGE, 100 * MS),
        (CLOUD, 100 * MS),
    ]
    (pair,) = pairs_of(run(pairer, arrivals))
    assert pair == (100 * MS, 100 * MS, 100 * MS)


def test_missing_camera_info_drops_after_queue_fills() -> None:
    pairer = ApproximateTimePairer(slop_s=0.05, queue_size=3)
    events = []
    for k in range(6):
        events += pairer.add_cloud(k * 100 * MS, None)
        events += pairer.add_image(k * 100 * MS, None)
    assert pairer.dropped[(IMAGE, NO_CAMERA_INFO)] == 3
    assert pairer.pending[IMAGE] == 3  # bounded
    pairer.flush()
    assert pairer.dropped[(IMAGE, NO_CAMERA_INFO)] == 6
    assert pairer.pairs_made == 0


def test_backwards_stamp_clears_queues_and_pairing_resumes() -> None:
    pairer = ApproximateTimePairer(slop_s=0.05, queue_size=5)
    run(pairer, [(CLOUD, 10_000 * MS), (CAMERA_INFO, 10_000 * MS), (IMAGE, 10_000 * MS)], flush=False)
    events = pairer.add_image(20 * MS, "looped")  # bag loop
    resets = [e for e in events if isinstance(e, Reset)]
    assert len(resets) == 1 and "backwards" in str(resets[0])
    assert pairer.dropped[(CLOUD, RESET)] + pairer.dropped[(CAMERA_INFO, RESET)] == 0  # both were used
    events = run(pairer, [(CAMERA_INFO, 20 * MS), (CLOUD, 25 * MS)])
    assert pairs_of(events) == [(20 * MS, 25 * MS, 20 * MS)]
    assert pairer.resets == 1


def test_unused_clouds_are_counted() -> None:
    pairer = ApproximateTimePairer(slop_s=0.01, queue_size=5)
    run(pairer, [(CLOUD, 0), (CLOUD, 50 * MS), (CLOUD, 100 * MS), (CAMERA_INFO, 100 * MS), (IMAGE, 100 * MS)])
    assert pairer.pairs_made == 1
    assert pairer.dropped[(CLOUD, UNPAIRED)] == 2


def test_bad_parameters_rejected() -> None:
    with pytest.raises(ValueError, match="slop"):
        ApproximateTimePairer(slop_s=-1)
    with pytest.raises(ValueError, match="queue_size"):
        ApproximateTimePairer(queue_size=0)


def brute_force(images, infos, clouds, slop):
    """Expected pairs: nearest cloud (tie: earlier), exact camera_info else nearest (tie: earlier)."""
    expected = []
    for t in images:
        cloud = min((c for c in clouds if abs(c - t) <= slop), key=lambda c: (abs(c - t), c), default=None)
        info = (
            t
            if t in infos
            else min((i for i in infos if abs(i - t) <= slop), key=lambda i: (abs(i - t), i), default=None)
        )
        if cloud is not None and info is not None:
            expected.append((t, cloud, info))
    return expected


stamps = st.lists(st.integers(0, 200), max_size=15, unique=True).map(sorted)


@settings(max_examples=300, deadline=None)
@given(images=stamps, infos=stamps, clouds=stamps, slop=st.integers(0, 30), data=st.data())
def test_any_interleaving_pairs_like_brute_force(images, infos, clouds, slop, data) -> None:
    """With queues large enough, the pairs depend only on the stamps, not on arrival interleaving."""
    streams = [IMAGE] * len(images) + [CAMERA_INFO] * len(infos) + [CLOUD] * len(clouds)
    order = data.draw(st.permutations(streams))
    iters = {IMAGE: iter(images), CAMERA_INFO: iter(infos), CLOUD: iter(clouds)}
    arrivals = [(s, next(iters[s])) for s in order]
    pairer = ApproximateTimePairer(slop_s=slop * 1e-9, queue_size=64)
    events = run(pairer, arrivals)
    assert pairs_of(events) == brute_force(images, infos, clouds, slop)
    # every message accounted: each image exactly once; each cloud/info used or dropped once
    dropped = [e for e in events if isinstance(e, Dropped)]
    assert pairer.pairs_made + sum(1 for d in dropped if d.stream == IMAGE) == len(images)
    used_clouds = {c for _, c, _ in pairs_of(events)}
    assert sorted(d.stamp_ns for d in dropped if d.stream == CLOUD) == sorted(set(clouds) - used_clouds)
    assert sum(pairer.dropped.values()) == len(dropped)
    assert pairer.pending == {IMAGE: 0, CAMERA_INFO: 0, CLOUD: 0}


@settings(max_examples=200, deadline=None)
@given(
    arrivals=st.lists(
        st.tuples(st.sampled_from([IMAGE, CAMERA_INFO, CLOUD]), st.integers(0, 100)), max_size=40
    ),
    queue_size=st.integers(1, 4),
)
def test_arbitrary_sequences_stay_bounded_and_deterministic(arrivals, queue_size) -> None:
    """Unordered stamps (resets) and tiny queues: bounded queues, every image accounted, same result twice."""
    first, second = (
        ApproximateTimePairer(0.00000001, queue_size),
        ApproximateTimePairer(0.00000001, queue_size),
    )
    events = run(first, arrivals, flush=False)
    assert all(n <= queue_size for n in first.pending.values())
    events += first.flush()
    assert events == run(second, arrivals)
    n_images = sum(1 for s, _ in arrivals if s == IMAGE)
    image_drops = sum(n for (stream, _), n in first.dropped.items() if stream == IMAGE)
    assert first.pairs_made + image_drops == n_images
