"""Depth-completion metrics exactly as the official ``NLSPNMetric`` computes them (numpy).

Units are SI: RMSE, MAE in metres; iRMSE, iMAE in 1/m; REL and D1..D3 (fraction of pixels
with ``max(gt/pred, pred/gt) < 1.25**i``) are unitless. The KITTI leaderboard shows RMSE/MAE
in mm and iRMSE/iMAE in 1/km: see :func:`to_kitti_units`.

Valid pixels are those with ``gt > 1e-4``; the same small constants as the official code
are used (so a frame without any valid pixel scores 0 everywhere, as there). All pixels
passed in one call are pooled (the official code pools a batch); the dataset score is the
mean of the per-frame results (:class:`MetricAccumulator`), as the official summary does.
Computed in float64.
"""
from __future__ import annotations

import numpy as np

METRIC_NAMES = ("RMSE", "MAE", "iRMSE", "iMAE", "REL", "D1", "D2", "D3")
VALID_THRESHOLD = 1e-4
_EPS = 1e-8


def depth_metrics(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Metrics of ``pred`` against ``gt`` (same shape, metres; gt 0 = no ground truth)."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} differ in shape")
    mask = gt > VALID_THRESHOLD
    num_valid = float(mask.sum())
    pred, gt = pred[mask], gt[mask]
    pred_inv = np.where(pred <= VALID_THRESHOLD, 0.0, 1.0 / (pred + _EPS))
    gt_inv = 1.0 / (gt + _EPS)

    diff = pred - gt
    denominator = num_valid + _EPS
    ratio = np.maximum(gt / (pred + _EPS), pred / (gt + _EPS))
    return {
        "RMSE": float(np.sqrt((diff ** 2).sum() / denominator)),
        "MAE": float(np.abs(diff).sum() / denominator),
        "iRMSE": float(np.sqrt(((pred_inv - gt_inv) ** 2).sum() / denominator)),
        "iMAE": float(np.abs(pred_inv - gt_inv).sum() / denominator),
        "REL": float((np.abs(diff) / (gt + _EPS)).sum() / denominator),
        "D1": float((ratio < 1.25).sum() / denominator),
        "D2": float((ratio < 1.25 ** 2).sum() / denominator),
        "D3": float((ratio < 1.25 ** 3).sum() / denominator),
    }


def to_kitti_units(metrics: dict[str, float]) -> dict[str, float]:
    """RMSE/MAE in mm and iRMSE/iMAE in 1/km (as the KITTI benchmark reports them)."""
    scaled = dict(metrics)
    for key in ("RMSE", "MAE", "iRMSE", "iMAE"):
        if key in scaled:
            scaled[key] = scaled[key] * 1000.0
    return scaled


class MetricAccumulator:
    """Mean of per-frame :func:`depth_metrics` results over a sequence of frames."""

    def __init__(self) -> None:
        self._sums = dict.fromkeys(METRIC_NAMES, 0.0)
        self.frames = 0
        self.frames_without_ground_truth = 0

    def add(self, pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
        """Score one frame, add it to the mean and return its metrics."""
        result = depth_metrics(pred, gt)
        if not (np.asarray(gt) > VALID_THRESHOLD).any():
            self.frames_without_ground_truth += 1
        for key in METRIC_NAMES:
            self._sums[key] += result[key]
        self.frames += 1
        return result

    def mean(self) -> dict[str, float]:
        if self.frames == 0:
            raise ValueError("no frames added")
        return {key: total / self.frames for key, total in self._sums.items()}
