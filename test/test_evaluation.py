"""Evaluation: all methods on one frame, the held-out KITTI protocol, and the shipped default model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nlspn_ros import paths
from nlspn_ros.data.synthetic import render_frame
from nlspn_ros.model import NLSPNConfig, NLSPNModel, load_checkpoint
from nlspn_ros.offline.frame_evaluation import (
    METHODS,
    complete_all,
    evaluate_kitti,
    evaluate_synthetic,
    kitti_frame,
)


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return NLSPNModel(NLSPNConfig.small(prop_time=2)).eval()


def test_complete_all_runs_every_method(tiny_model):
    frame = render_frame(7, 152, 44)
    outputs = complete_all(tiny_model, frame.rgb, frame.sparse, max_depth=90.0)
    assert set(outputs.depth) == set(METHODS)
    for depth in outputs.depth.values():
        assert depth.shape == (44, 152) and depth.dtype == np.float32
        assert depth.min() >= 0 and depth.max() <= 90.0
    assert outputs.confidence is not None and outputs.confidence.shape == (44, 152)
    assert not np.array_equal(outputs.depth["nlspn"], outputs.depth["nlspn_init"])  # propagation acts


def test_synthetic_evaluation_refuses_training_seeds(tiny_model):
    with pytest.raises(ValueError, match="training"):
        evaluate_synthetic(tiny_model, [5])


def test_kitti_frame_is_cropped_like_kitti_dc(kitti_dir):
    rgb, sparse = kitti_frame(kitti_dir, "000000")
    assert rgb.shape == (352, 1216, 3) and sparse.shape == (352, 1216)
    assert 0.03 < (sparse > 0).mean() < 0.07


@pytest.mark.slow
def test_kitti_holdout_protocol_and_panels(tiny_model, kitti_dir, tmp_path):
    table = evaluate_kitti(tiny_model, kitti_dir, holdout=0.2, seed=0, panels_dir=tmp_path)
    assert table.frames == 2
    for row in table.per_frame:
        share = row["target_pixels"] / (row["target_pixels"] + row["input_pixels"])
        assert 0.18 < share < 0.22
    assert set(table.metrics) == set(METHODS)
    assert table.metrics["ip_basic"]["RMSE"] < 5.0  # the classical baseline is sane on real data
    assert 0.0 <= table.metrics["ip_basic"]["near_phantom"] < 0.05
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "pixels_000000_ip_basic.png",
        "pixels_000000_nlspn.png",
        "pixels_000001_ip_basic.png",
        "pixels_000001_nlspn.png",
    ]


def test_shipped_default_model():
    path = paths.DEFAULT_CHECKPOINT
    assert path.is_file(), f"the default model {path} is missing"
    assert path.stat().st_size < 10 * 1024 * 1024
    model, config = load_checkpoint(path)
    assert config == NLSPNConfig.small(prefill="ip_basic"), "the shipped model: small with the pre-fill"
    meta = torch.load(path, weights_only=True)["meta"]
    # trained from real KITTI LiDAR; the object samples are the held-out frames of the model card
    assert meta["data"] == "real"
    assert not any("kitti_samples" in folder for folder in meta["real"])
