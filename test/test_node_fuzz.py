"""Live fuzzing: a node process fed a seeded mix of malformed and valid messages from this process.

About 100 rounds (300-odd messages, well under a minute): every malformed frame is counted as the
bad input it is (never ``frames.failed``, never a crash), every valid frame is answered, and at the
end the /diagnostics counters add up: images sent = pairs made + images dropped by the pairing;
pairs made = completed + superseded + failed + bad input + no subscribers + deactivated.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import rclpy
from sensor_msgs.msg import PointField

from nlspn_ros.ros.messages import cloud_msg

from ros_util import SEC, Harness, make_frame, start_node, stop_process, subscribed_and_reporting

pytestmark = [pytest.mark.ros, pytest.mark.slow]

ROUNDS = 100
SEED = 17


def _restamp(msg, stamp_ns: int) -> None:
    msg.header.stamp = rclpy.time.Time(nanoseconds=stamp_ns).to_msg()


def mutations(rng: np.random.Generator):
    """name -> (what the frame must produce, function changing (image, info, cloud) in place)."""

    def encoding(image, info, cloud):
        image.encoding = str(rng.choice(["yuv422", "16UC1", "32FC1", "", "bayer_rggb8", "rgb16"]))

    def short_step(image, info, cloud):
        image.step = image.width * 3 - int(rng.integers(1, 4))

    def short_data(image, info, cloud):
        image.data = image.data[: int(rng.integers(0, len(image.data)))]

    def nan_calibration(image, info, cloud):
        k = list(info.k)
        k[int(rng.choice([0, 2, 4, 5]))] = float(rng.choice([math.nan, math.inf, -math.inf]))
        info.k = k
        p = list(info.p)
        p[int(rng.choice([0, 2, 5, 6]))] = float(rng.choice([math.nan, math.inf]))
        info.p = p

    def absurd_calibration(image, info, cloud):
        p = list(info.p)
        p[int(rng.choice([0, 5]))] = float(rng.choice([1e300, 1e-300, 1e12]))
        info.p = p

    def wrong_size(image, info, cloud):
        info.width = int(info.width * rng.choice([2, 3]))

    def huge_point_step(image, info, cloud):
        cloud.point_step = int(rng.choice([2**31, 2**32 - 1]))

    def row_step(image, info, cloud):
        cloud.row_step += int(rng.integers(1, 8))

    def no_z(image, info, cloud):
        cloud.fields = [f for f in cloud.fields if f.name != "z"]

    def float64_fields(image, info, cloud):
        cloud.fields = [
            PointField(name=f.name, offset=f.offset, datatype=PointField.FLOAT64, count=1)
            for f in cloud.fields
        ]

    def all_nan(image, info, cloud):
        xyz = np.full((50, 3), np.nan, np.float32)
        fresh = cloud_msg(cloud.header, xyz)
        cloud.data, cloud.width, cloud.row_step = fresh.data, fresh.width, fresh.row_step

    def foreign_frame(image, info, cloud):
        cloud.header.frame_id = "radar"

    def valid_rational_14(image, info, cloud):  # rectified: D is not used
        info.distortion_model = "rational_polynomial"
        info.d = [float(x) for x in rng.normal(0, 0.01, 14)]

    def valid_many_points(image, info, cloud):
        fresh = make_frame(0, 6.0, n=100_000)[2]
        cloud.data, cloud.width, cloud.row_step = fresh.data, fresh.width, fresh.row_step

    return {
        "encoding": ("bad_input.image", encoding),
        "short_step": ("bad_input.image", short_step),
        "short_data": ("bad_input.image", short_data),
        "nan_calibration": ("bad_input.camera_info", nan_calibration),
        "absurd_calibration": ("bad_input.camera_info", absurd_calibration),
        "wrong_size": ("bad_input.camera_info", wrong_size),
        "huge_point_step": ("bad_input.cloud", huge_point_step),
        "row_step": ("bad_input.cloud", row_step),
        "no_z": ("bad_input.cloud", no_z),
        "float64_fields": ("bad_input.cloud", float64_fields),
        "all_nan": ("bad_input.nan_points", all_nan),
        "foreign_frame": ("bad_input.cloud_frame", foreign_frame),
        "valid": ("frames.completed", lambda image, info, cloud: None),
        "valid_rational_14": ("frames.completed", valid_rational_14),
        "valid_many_points": ("frames.completed", valid_many_points),
    }


def total(counters: dict[str, str], prefix: str) -> int:
    return sum(int(v) for k, v in counters.items() if k.startswith(prefix))


def test_seeded_mix_of_malformed_and_valid_messages(checkpoint, ros_domain) -> None:
    harness = Harness(ros_domain())
    proc = start_node(checkpoint, harness.domain, diagnostics_period=0.1)
    rng = np.random.default_rng(SEED)
    table = mutations(rng)
    names = sorted(table)
    sent_images = 0
    expected: dict[str, int] = {}
    try:
        assert harness.wait(lambda: subscribed_and_reporting(harness), 40.0, proc), stop_process(proc)
        start = harness.settled_counters()
        stamp = 1000 * SEC
        for round_ in range(ROUNDS):
            name = names[int(rng.integers(len(names)))]
            counter, mutate = table[name]
            stamp += int(rng.choice([1, 1, 1, 1000])) * SEC  # now and then a jump into the future
            if round_ == ROUNDS // 2:
                stamp -= 500 * SEC  # once backwards: the pairing restarts (counted as a reset)
            image, info, cloud = make_frame(stamp, depth=float(rng.uniform(3.0, 30.0)))
            mutate(image, info, cloud)
            for msg in (image, info, cloud):
                _restamp(msg, stamp)
            before = harness.counter(counter)
            harness.send(stamp, image=image, info=info, cloud=cloud)
            sent_images += 1
            expected[counter] = expected.get(counter, 0) + 1
            if counter == "frames.completed":
                assert harness.wait(lambda s=stamp: harness.outputs_for("depth/image", s), proc=proc), (
                    name,
                    harness.counters(),
                )
            assert harness.wait(lambda c=counter, b=before: harness.counter(c) > b, proc=proc), (
                name,
                counter,
                harness.counters(),
            )
        assert proc.poll() is None
        end = harness.settled_counters()
    finally:
        output = stop_process(proc)
        harness.close()
    assert proc.returncode == 0, output

    def delta(key: str) -> int:
        return int(end.get(key, 0)) - int(start.get(key, 0))

    def delta_prefix(prefix: str) -> int:
        return total(end, prefix) - total(start, prefix)

    assert delta("frames.failed") == 0, (end, output)
    for counter, n in expected.items():
        assert delta(counter) == n, (counter, n, end)
    assert delta("pairing.resets") == 1
    pairs = delta("pairs.made")
    assert sent_images == pairs + delta_prefix("dropped.image."), end
    outcomes = sum(
        delta(k)
        for k in (
            "frames.completed",
            "frames.superseded",
            "frames.failed",
            "frames.no_subscribers",
            "frames.deactivated",
        )
    )
    assert pairs == outcomes + delta_prefix("bad_input."), end
