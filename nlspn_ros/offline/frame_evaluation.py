"""Evidence for the shipped model: synthetic held-out frames and real KITTI frames with held-out LiDAR.

* :func:`evaluate_synthetic`: frames rendered from seeds never used in training, scored against
  their dense ground truth for four methods: nearest measurement, IP-Basic, NLSPN's initial depth
  (``pred_init``, before propagation) and NLSPN. Two regions: ``all`` (every pixel with a surface
  within range) and ``lidar_fov`` (those inside the LiDAR's vertical field of view, as seen from the
  nominal mount: the region KITTI's ground truth covers, since it is built from LiDAR sweeps).
* :func:`evaluate_real` / :func:`evaluate_kitti`: real KITTI frames (raw drives, odometry sequences,
  object layout) projected through the package's projection, cropped like KITTI depth completion
  (bottom 352 rows, centre 1216 columns), scored under a holdout protocol
  (:mod:`nlspn_ros.data.holdout`): A (``pixels``: 20% of the projected pixels held out, fixed seed)
  or B (``rings``: the odd laser rings held out); the held-out depths are the reference, with the
  near-phantom share beside the KITTI metrics.

Metrics are :func:`nlspn_ros.metrics.depth_metrics` (official NLSPN metric), averaged per frame;
every prediction is clamped to ``[0, max_depth]`` as the official evaluation does.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from nlspn_ros.completion.ip_basic import fill_in_fast, nearest_fill
from nlspn_ros.data.datasets import SyntheticDataset, to_sample
from nlspn_ros.data.holdout import (
    PROTOCOLS,
    held_out_rings,
    kitti_rings,
    near_phantoms,
    pixel_holdout,
    ring_target,
)
from nlspn_ros.data.kitti import (
    KittiFrame,
    cut_to_box,
    dc_crop_box,
    frame_depth,
    read_kitti,
    read_object_layout,
)
from nlspn_ros.data.lidar import LidarModel
from nlspn_ros.data.synthetic import kitti_like_camera, kitti_like_extrinsic
from nlspn_ros.metrics import MetricAccumulator
from nlspn_ros.model import NLSPNModel
from nlspn_ros.offline.bag_evaluation import FrameData
from nlspn_ros.offline.panels import write_panels

METHODS = ("nearest", "ip_basic", "nlspn_init", "nlspn")
EVAL_SEED_OFFSET = 1_000_000  # synthetic evaluation seeds start here; training uses seeds below it
KITTI_CROP = (352, 1216)


@dataclass
class MethodOutputs:
    depth: dict[str, np.ndarray]
    confidence: np.ndarray | None
    ms: dict[str, float]


@dataclass
class EvaluationTable:
    frames: int = 0
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    ms_per_frame: dict[str, float] = field(default_factory=dict)
    per_frame: list[dict] = field(default_factory=list)

    regions: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "frames": self.frames,
            "metrics": self.metrics,
            "regions": self.regions,
            "ms_per_frame": self.ms_per_frame,
            "per_frame": self.per_frame,
        }

    def markdown(self, metrics: dict[str, dict[str, float]] | None = None) -> str:
        """Table of ``metrics`` (default: this table's main metrics), one row per method, with each
        method's RMSE and MAE as a multiple of IP-Basic's (and the near-phantom share where scored)."""
        metrics = self.metrics if metrics is None else metrics
        phantom = any("near_phantom" in m for m in metrics.values())
        base = metrics.get("ip_basic")
        lines = [
            "| method | RMSE (m) | MAE (m) | iRMSE (1/km) | REL | D1 | x IP-Basic RMSE / MAE |"
            + (" near-phantom |" if phantom else "") + " ms/frame |",
            "|---|---|---|---|---|---|---|" + ("---|" if phantom else "") + "---|",
        ]
        for name in METHODS:
            if name in metrics:
                m = metrics[name]
                ratio = f"{m['RMSE'] / base['RMSE']:.2f} / {m['MAE'] / base['MAE']:.2f}" if base else "-"
                lines.append(
                    f"| {name} | {m['RMSE']:.3f} | {m['MAE']:.3f} | {m['iRMSE'] * 1000:.2f} | "
                    f"{m['REL']:.4f} | {m['D1']:.4f} | {ratio} |"
                    + (f" {m['near_phantom'] * 100:.2f}% |" if phantom else "")
                    + f" {self.ms_per_frame.get(name, float('nan')):.0f} |"
                )
        return "\n".join(lines)


def complete_all(model: NLSPNModel, rgb: np.ndarray, sparse: np.ndarray, max_depth: float) -> MethodOutputs:
    """Every method on one frame (NLSPN's ``pred`` and ``pred_init`` come from the same forward pass)."""
    depth, ms = {}, {}
    start = time.perf_counter()
    depth["nearest"] = nearest_fill(sparse)
    ms["nearest"] = (time.perf_counter() - start) * 1e3
    start = time.perf_counter()
    depth["ip_basic"] = fill_in_fast(sparse)
    ms["ip_basic"] = (time.perf_counter() - start) * 1e3
    sample = to_sample(rgb, sparse, np.zeros_like(sparse))
    start = time.perf_counter()
    with torch.inference_mode():
        out = model(sample["rgb"][None], sample["dep"][None])
    ms["nlspn"] = ms["nlspn_init"] = (time.perf_counter() - start) * 1e3
    depth["nlspn"] = out["pred"][0, 0].numpy()
    depth["nlspn_init"] = out["pred_init"][0, 0].numpy()
    confidence = None if out["confidence"] is None else out["confidence"][0, 0].numpy()
    depth = {name: np.clip(d, 0.0, max_depth).astype(np.float32) for name, d in depth.items()}
    return MethodOutputs(depth, confidence, ms)


def _summarise(
    accumulators: dict[str, MetricAccumulator], times: dict[str, list[float]], table: EvaluationTable
) -> EvaluationTable:
    table.metrics = {name: acc.mean() for name, acc in accumulators.items()}
    table.ms_per_frame = {name: float(np.median(t)) for name, t in times.items()}
    return table


def lidar_fov_mask(depth: np.ndarray, k: np.ndarray, t_cam_lidar: np.ndarray, elevations_deg) -> np.ndarray:
    """Pixels whose surface point lies within the LiDAR's vertical field of view (depth > 0 only)."""
    height, width = depth.shape
    cols, rows = np.meshgrid(np.arange(width), np.arange(height))
    rays = np.stack([(cols - k[0, 2]) / k[0, 0], (rows - k[1, 2]) / k[1, 1], np.ones_like(depth)], axis=-1)
    points_cam = rays * depth[..., None]
    t_lidar_cam = np.linalg.inv(t_cam_lidar)
    points = points_cam @ t_lidar_cam[:3, :3].T + t_lidar_cam[:3, 3]
    elevation = np.degrees(np.arctan2(points[..., 2], np.hypot(points[..., 0], points[..., 1])))
    margin = 0.25  # half a beam spacing
    inside = (elevation <= max(elevations_deg) + margin) & (elevation >= min(elevations_deg) - margin)
    return inside & (depth > 0)


def evaluate_synthetic(
    model: NLSPNModel,
    seeds: Iterable[int],
    cache_dir: str | Path | None = None,
    max_depth: float = 90.0,
    progress: bool = False,
) -> EvaluationTable:
    """Score all methods on the synthetic frames of ``seeds`` against their dense ground truth."""
    seeds = list(seeds)
    if min(seeds) < EVAL_SEED_OFFSET:
        raise ValueError(f"evaluation seeds must be >= {EVAL_SEED_OFFSET} (lower seeds are for training)")
    dataset = SyntheticDataset(seeds, cache_dir)
    model.eval()
    regions = ("all", "lidar_fov")
    accumulators = {region: {name: MetricAccumulator() for name in METHODS} for region in regions}
    times: dict[str, list[float]] = {name: [] for name in METHODS}
    table = EvaluationTable()
    elevations = LidarModel().elevations_deg
    t_cam_lidar = kitti_like_extrinsic()
    indices = range(len(seeds))
    if progress:
        indices = tqdm(indices, unit="frame", desc="evaluate")
    for index in indices:
        rgb, sparse, gt = dataset.frame(index)
        outputs = complete_all(model, rgb, sparse, max_depth)
        gt = np.where(gt <= max_depth, gt, 0.0).astype(np.float32)
        camera_k = kitti_like_camera(gt.shape[1], gt.shape[0]).k
        gt_regions = {
            "all": gt,
            "lidar_fov": np.where(lidar_fov_mask(gt, camera_k, t_cam_lidar, elevations), gt, 0),
        }
        row = {"seed": seeds[index]}
        for region in regions:
            for name in METHODS:
                result = accumulators[region][name].add(outputs.depth[name], gt_regions[region])
                row[f"{name}_{region}_rmse"] = result["RMSE"]
        for name in METHODS:
            times[name].append(outputs.ms[name])
        table.per_frame.append(row)
        table.frames += 1
    table.regions = {
        region: {name: acc.mean() for name, acc in accs.items()} for region, accs in accumulators.items()
    }
    table.metrics = table.regions["all"]
    table.ms_per_frame = {name: float(np.median(t)) for name, t in times.items()}
    return table


def kitti_frame(kitti_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(rgb, sparse) of one KITTI object-layout frame, projected with our code and cropped to 1216x352."""
    (frame,) = read_object_layout(kitti_dir, [name])
    return dc_inputs(frame)


def dc_inputs(frame: KittiFrame, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rgb, sparse of the points in ``mask``) cut to KITTI depth completion's bottom-centre box."""
    height, width = frame.rgb.shape[:2]
    box = dc_crop_box(width, height)
    return cut_to_box(frame.rgb, box), cut_to_box(frame_depth(frame, mask), box)


def protocol_inputs(frame: KittiFrame, protocol: str, index: int, seed: int = 0, share: float = 0.2
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rgb, input, target) of a real frame under a holdout protocol (:mod:`nlspn_ros.data.holdout`).

    ``pixels`` (A): ``share`` of the projected pixels held out, drawn with rng([seed, index]).
    ``rings`` (B): the odd laser rings held out (the input keeps the even ones, top ring included).
    ``none``: the whole sweep is the input and the target is empty (for an outside ground truth).
    """
    if protocol == "pixels":
        rgb, sparse = dc_inputs(frame)
        kept, target = pixel_holdout(sparse, share, np.random.default_rng([seed, index]))
        return rgb, kept, target
    if protocol == "rings":
        held = held_out_rings(kitti_rings(frame.points), 1)
        rgb, kept = dc_inputs(frame, ~held)
        return rgb, kept, ring_target(kept, dc_inputs(frame, held)[1])
    if protocol == "none":
        rgb, sparse = dc_inputs(frame)
        return rgb, sparse, np.zeros_like(sparse)
    raise ValueError(f"protocol must be one of {PROTOCOLS} or none, got {protocol!r}")


def evaluate_real(
    model: NLSPNModel,
    frames: Iterable[KittiFrame],
    protocol: str = "pixels",
    share: float = 0.2,
    seed: int = 0,
    max_depth: float = 90.0,
    panels_dir: str | Path | None = None,
) -> EvaluationTable:
    """Score every method on real frames under a holdout protocol (targets the methods never saw).

    Besides the KITTI metrics, ``near_phantom`` is the share of target pixels predicted nearer than
    half their depth (pooled over frames), the error that makes a robot brake for nothing.
    """
    model.eval()
    accumulators = {name: MetricAccumulator() for name in METHODS}
    times: dict[str, list[float]] = {name: [] for name in METHODS}
    phantoms = dict.fromkeys(METHODS, 0.0)
    targets = 0
    table = EvaluationTable()
    for index, frame in enumerate(frames):
        rgb, kept, target = protocol_inputs(frame, protocol, index, seed, share)
        outputs = complete_all(model, rgb, kept, max_depth)
        count = int((target > 0).sum())
        targets += count
        row = {"frame": frame.name, "input_pixels": int((kept > 0).sum()), "target_pixels": count}
        for method in METHODS:
            row[method] = accumulators[method].add(outputs.depth[method], target)["RMSE"]
            phantoms[method] += near_phantoms(outputs.depth[method], target)[0]
            times[method].append(outputs.ms[method])
        table.per_frame.append(row)
        table.frames += 1
        if panels_dir is not None:
            for method, confidence in (("nlspn", outputs.confidence), ("ip_basic", None)):
                data = FrameData(rgb, kept, outputs.depth[method], confidence, target)
                write_panels(Path(panels_dir) / f"{protocol}_{frame.name}_{method}.png", data,
                             f"KITTI {frame.name} {method} ({protocol})")
    if table.frames == 0:
        raise ValueError("no frames to evaluate")
    table = _summarise(accumulators, times, table)
    for method in METHODS:
        table.metrics[method]["near_phantom"] = phantoms[method] / targets if targets else float("nan")
    return table


def evaluate_kitti(
    model: NLSPNModel,
    kitti_dir: str | Path,
    holdout: float = 0.2,
    seed: int = 0,
    max_depth: float = 90.0,
    panels_dir: str | Path | None = None,
    protocol: str = "pixels",
) -> EvaluationTable:
    """:func:`evaluate_real` on every frame of a KITTI folder (raw drive, odometry root or object layout)."""
    return evaluate_real(model, read_kitti(kitti_dir), protocol, holdout, seed, max_depth, panels_dir)
