"""Depth metrics: hand-computed cases and agreement with the official formulas."""
from __future__ import annotations

import math

import numpy as np
import pytest

from nlspn_ros.metrics import METRIC_NAMES, MetricAccumulator, depth_metrics, to_kitti_units


def test_hand_computed_frame():
    # Valid gt: 2, 4, 10 (the 0 is ignored); predictions 3, 4, 5 (the 7 has no gt).
    gt = np.array([[2.0, 4.0], [10.0, 0.0]], np.float32)
    pred = np.array([[3.0, 4.0], [5.0, 7.0]], np.float32)
    m = depth_metrics(pred, gt)
    assert set(m) == set(METRIC_NAMES)
    assert m["RMSE"] == pytest.approx(math.sqrt((1 + 0 + 25) / 3))
    assert m["MAE"] == pytest.approx(6 / 3)
    inv = [1 / 3 - 1 / 2, 0.0, 1 / 5 - 1 / 10]
    assert m["iRMSE"] == pytest.approx(math.sqrt(sum(d * d for d in inv) / 3))
    assert m["iMAE"] == pytest.approx(sum(abs(d) for d in inv) / 3)
    assert m["REL"] == pytest.approx((1 / 2 + 0 + 5 / 10) / 3)
    # ratios: 1.5, 1.0, 2.0 -> below 1.25: 1; below 1.5625: 2; below 1.953: 2
    assert (m["D1"], m["D2"], m["D3"]) == pytest.approx((1 / 3, 2 / 3, 2 / 3))


def test_perfect_prediction_and_zero_prediction():
    gt = np.array([1.0, 5.0, 80.0])
    perfect = depth_metrics(gt, gt)
    assert perfect["RMSE"] == pytest.approx(0, abs=1e-9) and perfect["D1"] == pytest.approx(1.0)
    # A zero prediction: inverse depth counts as 0 (official), ratios are huge -> no delta hit.
    zero = depth_metrics(np.zeros(3), gt)
    assert zero["MAE"] == pytest.approx(86 / 3)
    assert zero["iMAE"] == pytest.approx((1 + 0.2 + 1 / 80) / 3)
    assert zero["D3"] == 0.0 and zero["REL"] == pytest.approx(1.0)


def test_no_ground_truth_scores_zero_like_the_official_code():
    m = depth_metrics(np.ones((3, 3)), np.zeros((3, 3)))
    assert all(value == 0.0 for value in m.values())
    with pytest.raises(ValueError, match="shape"):
        depth_metrics(np.ones(3), np.ones(4))


def test_accumulator_averages_per_frame_results():
    acc = MetricAccumulator()
    first = acc.add(np.array([2.0, 2.0]), np.array([1.0, 1.0]))  # RMSE 1, REL 1
    second = acc.add(np.array([1.0, 1.0, 1.0, 1.0]), np.array([1.0, 1.0, 1.0, 4.0]))  # RMSE 1.5
    assert first["RMSE"] == pytest.approx(1.0) and second["RMSE"] == pytest.approx(1.5)
    mean = acc.mean()
    assert mean["RMSE"] == pytest.approx(1.25)  # per-frame mean, not pooled over pixels
    assert mean["REL"] == pytest.approx((1.0 + 0.75 / 4) / 2)
    assert acc.frames == 2 and acc.frames_without_ground_truth == 0
    acc.add(np.ones(2), np.zeros(2))
    assert acc.frames_without_ground_truth == 1
    with pytest.raises(ValueError):
        MetricAccumulator().mean()


def test_kitti_units():
    scaled = to_kitti_units({"RMSE": 0.7717, "MAE": 0.1973, "iRMSE": 0.002, "iMAE": 0.0008, "D1": 0.9})
    assert scaled == pytest.approx({"RMSE": 771.7, "MAE": 197.3, "iRMSE": 2.0, "iMAE": 0.8, "D1": 0.9})
