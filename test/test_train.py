"""Training: official loss and schedule, datasets, a smoke run that lowers the loss, resume."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from nlspn_ros.data.datasets import KittiDCDataset, SyntheticDataset, random_crop_flip, read_kitti_depth
from nlspn_ros.model import NLSPNConfig, NLSPNModel, load_checkpoint
from nlspn_ros.offline.training import TrainSettings, lr_factor, official_loss, run_progress, train

TINY = NLSPNConfig.small(prop_time=3)
SIZE = (152, 44)


def test_official_loss_is_l1_plus_l2_on_valid_pixels_summed_over_batch():
    pred = torch.tensor([[[[1.0, 2.0], [3.0, 100.0]]], [[[0.0, 0.0], [0.0, 0.0]]]])
    gt = torch.tensor([[[[2.0, 0.0], [5.0, 95.0]]], [[[1.0, 1.0], [1.0, 1.0]]]])
    # sample 0: valid diffs 1, 2, (90 - 90 after clamping both to max_depth) -> L1 1, L2 5/3
    # sample 1: all valid, diffs 1 -> L1 1, L2 1
    expected = (1.0 + 5.0 / 3.0) + (1.0 + 1.0)
    assert float(official_loss(pred, gt, max_depth=90.0)) == pytest.approx(expected)
    assert float(official_loss(pred, gt, 90.0, l1_weight=0.0)) == pytest.approx(5.0 / 3.0 + 1.0)


def test_official_schedule_scaled_to_the_run():
    settings = TrainSettings(steps=2000, epochs=20, decay=(10, 15, 20), gamma=(1.0, 0.2, 0.04))
    assert lr_factor(0.0, settings) < 0.02  # warm-up starts near zero
    assert lr_factor(0.025, settings) == pytest.approx(0.5)  # half way through the first epoch
    assert lr_factor(0.3, settings) == 1.0
    assert lr_factor(0.6, settings) == 0.2
    assert lr_factor(0.9, settings) == 0.04
    assert lr_factor(0.3, TrainSettings(warm_up=False)) == 1.0
    assert run_progress(500, 0.0, settings) == 0.25
    timed = TrainSettings(steps=2000, time_limit_s=100.0)
    assert run_progress(500, 75.0, timed) == 0.75  # the time budget runs out first


def test_crop_flip_keeps_arrays_aligned():
    ramp = np.tile(np.arange(40, dtype=np.float32), (20, 1))
    rng = np.random.default_rng(3)
    flips = set()
    for _ in range(20):
        a, b = random_crop_flip([ramp, ramp * 2], (8, 16), rng)
        assert a.shape == (8, 16)
        np.testing.assert_array_equal(b, a * 2)
        flips.add(bool(a[0, 0] > a[0, -1]))
    assert flips == {True, False}
    with pytest.raises(ValueError, match="larger"):
        random_crop_flip([ramp], (30, 16), rng)


def test_synthetic_dataset_items_and_cache(tmp_path):
    dataset = SyntheticDataset([0, 1], tmp_path, crop=(32, 64), size=SIZE)
    item = dataset[0]
    assert (
        item["rgb"].shape == (3, 32, 64)
        and item["dep"].shape == (1, 32, 64)
        and item["gt"].shape == (1, 32, 64)
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frame_0000000.npz"]
    again = SyntheticDataset([0, 1], tmp_path, crop=(32, 64), size=SIZE)[0]
    torch.testing.assert_close(item["gt"], again["gt"])  # same crop from the cache
    with pytest.raises(ValueError, match="not"):
        SyntheticDataset([0], tmp_path, size=(64, 32)).frame(0)


def test_kitti_dc_layout(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (360, 100, 3), dtype=np.uint8)
    depth = np.zeros((360, 100), np.uint16)
    depth[::5, ::3] = 256 * 10  # 10 m
    gt = np.full((360, 100), 256 * 12, np.uint16)
    for name, image in (("img.png", rgb), ("dep.png", depth), ("gt.png", gt)):
        cv2.imwrite(str(tmp_path / name), image)
    split = {"train": [{"rgb": "img.png", "depth": "dep.png", "gt": "gt.png", "K": "calib.txt"}], "val": []}
    (tmp_path / "split.json").write_text(json.dumps(split))
    assert read_kitti_depth(tmp_path / "gt.png").max() == 12.0
    dataset = KittiDCDataset(tmp_path, tmp_path / "split.json", "train")
    item = dataset[0]
    assert item["rgb"].shape == (3, 352, 100)  # bottom 352 rows
    assert float(item["gt"].max()) == 12.0 and set(np.unique(item["dep"].numpy())) == {0.0, 10.0}
    with pytest.raises(ValueError, match="no 'test' split"):
        KittiDCDataset(tmp_path, tmp_path / "split.json", "test")


def _fixed_batch():
    items = [SyntheticDataset([s], size=SIZE)[0] for s in (0, 1)]
    return {k: torch.stack([i[k] for i in items]) for k in ("rgb", "dep", "gt")}


@pytest.mark.slow
def test_smoke_training_lowers_the_loss_and_resumes(tmp_path):
    settings = TrainSettings(
        steps=8, batch_size=2, decay=(20,), gamma=(1.0,), warm_up=False, checkpoint_every=4, device="cpu"
    )
    dataset = SyntheticDataset([0, 1], tmp_path / "cache", crop=(40, 96), size=SIZE)
    batch = _fixed_batch()
    torch.manual_seed(settings.seed)  # train() builds its model after the same seeding
    initial = NLSPNModel(TINY).eval()
    with torch.no_grad():
        loss_before = float(official_loss(initial(batch["rgb"], batch["dep"])["pred"], batch["gt"], 90.0))

    summary = train(dataset, tmp_path / "run", settings, TINY, progress=False)
    assert summary["step"] == 8 and not summary["stopped_early"]
    model, config = load_checkpoint(tmp_path / "run" / "last.pt")
    assert config == TINY
    with torch.no_grad():
        loss_after = float(official_loss(model(batch["rgb"], batch["dep"])["pred"], batch["gt"], 90.0))
    assert loss_after < 0.85 * loss_before, (loss_before, loss_after)

    # resume from step 4 and continue to 8: the optimizer state and step are restored
    resumed = train(
        dataset, tmp_path / "resumed", settings, resume=tmp_path / "run" / "step_0000004.pt", progress=False
    )
    assert resumed["step"] == 8
    state = torch.load(tmp_path / "resumed" / "last.state.pt", weights_only=True)
    assert state["step"] == 8 and state["optimizer"]["state"]


def test_bag_frames_hold_out_lidar_as_targets(tmp_path):
    from dataclasses import replace

    from nlspn_ros.bag.make import write_sensor_bag
    from nlspn_ros.data.sensor_frames import synthetic_frames
    from nlspn_ros.offline.bag_dataset import BagFramesDataset

    bag = tmp_path / "scenes"
    # no ground-truth topic: the targets are held-out LiDAR pixels
    write_sensor_bag(bag, (replace(f, ground_truth=None) for f in synthetic_frames(2, *SIZE, seed=5)))
    dataset = BagFramesDataset(bag, holdout=0.25, crop=(32, 64))
    assert len(dataset) == 2
    rgb, sparse, target = dataset.frames[0]
    assert rgb.shape[:2] == sparse.shape == target.shape
    kept, held = (sparse > 0).sum(), (target > 0).sum()
    assert held > 0 and 0.15 < held / (kept + held) < 0.35
    assert not ((sparse > 0) & (target > 0)).any()  # a held-out pixel is not in the input
    item = dataset[1]
    assert item["rgb"].shape == (3, 32, 64) and item["gt"].shape == (1, 32, 64)


@pytest.mark.slow
def test_torchrun_two_processes_train_with_ddp(tmp_path):
    """Two CPU processes (gloo): DDP + DistributedSampler; rank 0 writes the checkpoint."""
    import subprocess
    import sys

    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "-m",
        "nlspn_ros.cli",
        "train",
        "--out",
        str(tmp_path / "run"),
        "--seeds",
        "0:4",
        "--frame-size",
        "152",
        "44",
        "--crop",
        "32",
        "64",
        "--steps",
        "2",
        "--batch-size",
        "1",
        "--quiet",
        "--device",
        "cpu",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count('"step": 2') == 2  # both ranks ran both steps
    meta = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["meta"]
    assert meta["world_size"] == 2 and meta["step"] == 2


def test_lidar_holdout_dataset_redraws_targets_from_real_sweeps(kitti_dir):
    from nlspn_ros.data.datasets import LidarHoldoutDataset
    from nlspn_ros.data.kitti import read_object_layout

    frames = list(read_object_layout(kitti_dir))
    dataset = LidarHoldoutDataset(frames, crop=(352, 256), seed=1)
    assert len(dataset) == 2 and dataset.names == ["000000", "000001"]
    seen_protocols = set()
    targets = []
    for epoch in range(6):
        dataset.set_epoch(epoch)
        item = dataset[0]
        dep, gt = item["dep"][0].numpy(), item["gt"][0].numpy()
        assert dep.shape == gt.shape == (352, 256) and gt.any()
        assert not np.any((dep > 0) & (gt > 0))  # never scored on its own input
        share = (gt > 0).sum() / ((gt > 0).sum() + (dep > 0).sum())
        seen_protocols.add("pixels" if share < 0.45 or share > 0.55 else "rings-or-half")
        targets.append(gt)
    assert not all(np.array_equal(targets[0], t) for t in targets[1:])  # re-drawn every epoch
    only_rings = LidarHoldoutDataset(frames[:1], seed=0, protocols=("rings",))
    item = only_rings[0]
    assert item["dep"].shape == (1, 352, 1216)  # KITTI DC's crop when no training crop is given
    with pytest.raises(ValueError, match="protocols"):
        LidarHoldoutDataset(frames, protocols=("stripes",))


def _cli(*args, timeout=600):
    import subprocess
    import sys

    from ros_util import REPO_ROOT

    return subprocess.run([sys.executable, "-m", "nlspn_ros.cli", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
def test_train_cli_on_real_frames_then_evaluate_kitti(kitti_dir, tmp_path):
    done = _cli("train", "--data", "real", "--real", str(kitti_dir), "--out", str(tmp_path / "run"),
                "--steps", "2", "--batch-size", "2", "--crop", "64", "128", "--quiet", "--device", "cpu",
                "--checkpoint-every", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    model, config = load_checkpoint(tmp_path / "run" / "last.pt")
    assert config == NLSPNConfig.small(prefill="ip_basic")
    meta = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["meta"]
    assert meta["data"] == "real" and meta["frames"] == 2 and meta["protocols"] == ["pixels", "rings"]
    evaluated = _cli("evaluate-kitti", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--kitti-dir",
                     str(kitti_dir), "--json", str(tmp_path / "scores.json"))
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    scores = json.loads((tmp_path / "scores.json").read_text())
    for protocol in ("pixels", "rings"):
        assert scores[protocol]["frames"] == 2
        assert set(scores[protocol]["metrics"]["ip_basic"]) >= {"RMSE", "MAE", "near_phantom"}
    assert "protocol rings" in evaluated.stdout and "x IP-Basic" in evaluated.stdout


@pytest.mark.slow
def test_train_cli_on_a_bag_with_held_out_lidar(tmp_path):
    bag = tmp_path / "bag"
    made = _cli("make-bag", str(bag), "--synthetic", "2", "--width", "152", "--height", "44")
    assert made.returncode == 0, made.stderr[-2000:]
    done = _cli("train", "--data", "bag", "--bag", str(bag), "--holdout", "0.3",
                "--out", str(tmp_path / "run"), "--steps", "1", "--batch-size", "1", "--crop", "32", "64",
                "--quiet", "--device", "cpu")
    assert done.returncode == 0, done.stderr[-2000:]
    meta = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["meta"]
    assert meta["data"] == "bag" and meta["holdout"] == 0.3 and meta["step"] == 1


def test_every_subcommand_parses_its_help():
    from nlspn_ros.cli import COMMANDS

    for command in COMMANDS:
        done = _cli(command, "--help", timeout=120)
        assert done.returncode == 0 and f"nlspn_ros {command}" in done.stdout, (command, done.stderr)
    refused = _cli("train", "--data", "real", "--out", "/tmp/never")
    assert refused.returncode == 2 and "--real" in refused.stdout
