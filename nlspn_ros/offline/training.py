"""Training NLSPN as the official code does, on synthetic frames, KITTI DC or held-out bag frames.

Faithful to github zzangjinsun/NLSPN_ECCV20 (``main.py``, ``loss/``, ``utility.py``):

* loss ``1.0*L1 + 1.0*L2`` on the final prediction, each the mean over pixels with ground truth
  (``gt > 1e-4``) per sample, summed over the batch; prediction and ground truth clamped to
  ``[0, max_depth]``;
* Adam, betas (0.9, 0.999), eps 1e-8, weight decay 0, lr 1e-3;
* the official step schedule: lr x ``gamma[i]`` while ``epoch < decay[i]`` (defaults
  decay 10,15,20 / gamma 1.0,0.2,0.04 of a 20-epoch run), with the official linear warm-up over the
  first epoch. Our runs are counted in steps: epoch e of the official schedule is step
  ``e * steps / epochs``.

Multi-GPU: launch with ``torchrun --nproc_per_node N -m nlspn_ros.cli train ...``; each process then
runs DistributedDataParallel on its GPU with a DistributedSampler (gloo on CPU). A plain launch
trains in one process (CPU or one GPU).

Checkpoints: ``<out>/last.pt`` (and ``step_XXXXXXX.pt`` every ``checkpoint_every`` steps) in the
project format (:func:`nlspn_ros.model.save_checkpoint`), plus ``<name>.state.pt`` beside each
(optimizer, scheduler, step; weights-only loadable) for ``--resume``.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler

from nlspn_ros.model import NLSPNConfig, NLSPNModel, load_checkpoint, save_checkpoint

LOG = logging.getLogger(__name__)
T_VALID = 1e-4  # official: ground truth counts where gt > t_valid


@dataclass
class TrainSettings:
    steps: int = 1000
    batch_size: int = 4
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    epsilon: float = 1e-8
    weight_decay: float = 0.0
    decay: tuple[float, ...] = (10, 15, 20)  # in official epochs
    gamma: tuple[float, ...] = (1.0, 0.2, 0.04)
    epochs: float = 20  # length of the official schedule the decay points refer to
    warm_up: bool = True
    max_depth: float = 90.0
    l1_weight: float = 1.0
    l2_weight: float = 1.0
    checkpoint_every: int = 100
    time_limit_s: float | None = None  # stop early (with a checkpoint) after this long
    workers: int = 0
    seed: int = 0
    device: str = "auto"
    extra_meta: dict = field(default_factory=dict)


def official_loss(
    pred: torch.Tensor, gt: torch.Tensor, max_depth: float, l1_weight: float = 1.0, l2_weight: float = 1.0
) -> torch.Tensor:
    """``l1_weight * L1 + l2_weight * L2`` as the official ``loss/submodule`` (summed over the batch)."""
    pred = torch.clamp(pred, min=0, max=max_depth)
    gt = torch.clamp(gt, min=0, max=max_depth)
    mask = (gt > T_VALID).type_as(pred).detach()
    num_valid = mask.sum(dim=[1, 2, 3])
    diff = (pred - gt) * mask
    l1 = diff.abs().sum(dim=[1, 2, 3]) / (num_valid + 1e-8)
    l2 = diff.pow(2).sum(dim=[1, 2, 3]) / (num_valid + 1e-8)
    return (l1_weight * l1 + l2_weight * l2).sum()


def lr_factor(progress: float, settings: TrainSettings) -> float:
    """Official schedule at ``progress`` (0..1 of the run): first-epoch warm-up, then the decay steps."""
    epoch = progress * settings.epochs
    factor = settings.gamma[-1]
    for decay, gamma in zip(settings.decay, settings.gamma, strict=True):
        if epoch < decay:
            factor = gamma
            break
    if settings.warm_up and epoch < 1:
        # official: lr = initial_lr * warm_up_cnt / (len(loader) + 1), i.e. linear over the first epoch
        steps_per_epoch = settings.steps / settings.epochs
        factor *= min(1.0, max(epoch, 1.0 / (math.ceil(steps_per_epoch) + 1.0)))
    return factor


def run_progress(step: int, elapsed_s: float, settings: TrainSettings) -> float:
    """How far the run is (0..1): by steps, or by the time budget when that runs out first."""
    progress = step / settings.steps
    if settings.time_limit_s:
        progress = max(progress, elapsed_s / settings.time_limit_s)
    return min(progress, 1.0)


def batch_rmse(pred: torch.Tensor, gt: torch.Tensor) -> float:
    mask = gt > T_VALID
    if not mask.any():
        return float("nan")
    return float(torch.sqrt(((pred.detach() - gt)[mask] ** 2).mean()))


def _state_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.stem + ".state.pt")


def save_training_state(
    path: Path, model: NLSPNModel, optimizer, scheduler, step: int, elapsed_s: float, meta: dict
) -> None:
    save_checkpoint(path, model, meta={**meta, "step": step})
    tmp = _state_path(path).with_suffix(".tmp")
    state = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "step": step,
        "elapsed_s": elapsed_s,
    }
    torch.save(state, tmp)
    tmp.replace(_state_path(path))


class _Distributed:
    """torchrun environment (WORLD_SIZE/RANK/LOCAL_RANK) or a single process."""

    def __init__(self, device: str) -> None:
        self.enabled = int(os.environ.get("WORLD_SIZE", "1")) > 1
        use_cuda = torch.cuda.is_available() and device in ("auto", "cuda")
        if device not in ("auto", "cuda", "cpu"):
            raise ValueError(f"device must be auto, cuda or cpu, got {device!r}")
        if device == "cuda" and not torch.cuda.is_available():
            raise ValueError("device cuda requested but CUDA is not available")
        if self.enabled:
            dist.init_process_group(backend="nccl" if use_cuda else "gloo")
            self.rank, self.world = dist.get_rank(), dist.get_world_size()
            local_rank = int(os.environ.get("LOCAL_RANK", "0"))
            if use_cuda:
                torch.cuda.set_device(local_rank)
            self.device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
        else:
            self.rank, self.world = 0, 1
            self.device = torch.device("cuda" if use_cuda else "cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def close(self) -> None:
        if self.enabled:
            dist.destroy_process_group()


def train(
    dataset: Dataset,
    out_dir: str | Path,
    settings: TrainSettings,
    config: NLSPNConfig | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
    init: str | Path | None = None,
) -> dict:
    """Train; returns a summary (final step, running loss/RMSE, wall time, checkpoint path).

    ``resume``: continue a run (weights, optimizer, schedule, step). ``init``: start a new run (fresh
    optimizer and schedule) from the weights of a checkpoint, e.g. a second stage or fine-tuning.
    """
    if resume is not None and init is not None:
        raise ValueError("give either resume (continue a run) or init (new run from weights), not both")
    out_dir = Path(out_dir)
    env = _Distributed(settings.device)
    torch.manual_seed(settings.seed)
    start_step, elapsed_before = 0, 0.0
    if resume is not None or init is not None:
        model, config = load_checkpoint(resume if resume is not None else init, device="cpu")
        model.train()
    else:
        config = config or NLSPNConfig.small()
        model = NLSPNModel(config)
    model = model.to(env.device)
    net = (
        DistributedDataParallel(model, device_ids=[env.device.index] if env.device.type == "cuda" else None)
        if env.enabled
        else model
    )
    optimizer = torch.optim.Adam(
        model.parameters(),
        lr=settings.lr,
        betas=settings.betas,
        eps=settings.epsilon,
        weight_decay=settings.weight_decay,
    )
    schedule = {"progress": 0.0}  # the LR follows the run's progress (steps or time budget)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda _: lr_factor(schedule["progress"], settings)
    )
    if resume is not None:
        state = torch.load(_state_path(Path(resume)), map_location=env.device, weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_step = int(state["step"])
        elapsed_before = float(state.get("elapsed_s", 0.0))

    if env.enabled:
        sampler = DistributedSampler(
            dataset, num_replicas=env.world, rank=env.rank, shuffle=True, seed=settings.seed, drop_last=True
        )
    else:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(settings.seed))
    loader = DataLoader(
        dataset,
        batch_size=settings.batch_size,
        sampler=sampler,
        num_workers=settings.workers,
        drop_last=True,
        pin_memory=env.device.type == "cuda",
    )
    if len(loader) == 0:
        raise ValueError(
            f"dataset of {len(dataset)} items is smaller than one batch of {settings.batch_size}"
        )

    meta = {
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(settings).items()},
        "world_size": env.world,
    }
    bar = None
    if progress and env.main:
        from tqdm import tqdm

        bar = tqdm(total=settings.steps, initial=start_step, unit="step", dynamic_ncols=True)
    step, running_loss, running_rmse = start_step, None, None
    started = time.perf_counter()
    epoch = start_step // len(loader)
    stopped_early = False
    net.train()
    while step < settings.steps and not stopped_early:
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        if not env.enabled:  # same order as an uninterrupted run after a resume
            sampler.generator.manual_seed(settings.seed + epoch)
        skip = step - epoch * len(loader) if step > epoch * len(loader) else 0
        for index, batch in enumerate(loader):
            if index < skip:
                continue
            rgb, dep, gt = (batch[k].to(env.device, non_blocking=True) for k in ("rgb", "dep", "gt"))
            output = net(rgb, dep)
            loss = official_loss(
                output["pred"], gt, settings.max_depth, settings.l1_weight, settings.l2_weight
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            elapsed = elapsed_before + time.perf_counter() - started
            schedule["progress"] = run_progress(step, elapsed, settings)
            scheduler.step()
            value, rmse = loss.item() / len(rgb), batch_rmse(output["pred"], gt)
            running_loss = value if running_loss is None else 0.95 * running_loss + 0.05 * value
            if not math.isnan(rmse):
                running_rmse = rmse if running_rmse is None else 0.95 * running_rmse + 0.05 * rmse
            if bar is not None:
                bar.update(1)
                bar.set_postfix(
                    loss=f"{running_loss:.3f}",
                    rmse=f"{running_rmse or float('nan'):.3f}",
                    lr=f"{scheduler.get_last_lr()[0]:.2e}",
                )
            out_of_time = settings.time_limit_s is not None and elapsed > settings.time_limit_s
            if env.main and (step % settings.checkpoint_every == 0 or step == settings.steps or out_of_time):
                progress_meta = {
                    **meta,
                    "running_loss": running_loss,
                    "running_rmse": running_rmse,
                    "wall_s": elapsed,
                    **settings.extra_meta,
                }
                save_training_state(
                    out_dir / "last.pt", model, optimizer, scheduler, step, elapsed, progress_meta
                )
                if step % settings.checkpoint_every == 0:
                    save_training_state(
                        out_dir / f"step_{step:07d}.pt",
                        model,
                        optimizer,
                        scheduler,
                        step,
                        elapsed,
                        progress_meta,
                    )
                LOG.info("step %d loss %.4f rmse %.4f", step, running_loss, running_rmse or float("nan"))
            if out_of_time:
                stopped_early = True
            if step >= settings.steps or stopped_early:
                break
        epoch += 1
    if bar is not None:
        bar.close()
    env.close()
    return {
        "step": step,
        "running_loss": running_loss,
        "running_rmse": running_rmse,
        "wall_s": time.perf_counter() - started,
        "checkpoint": str(out_dir / "last.pt"),
        "stopped_early": stopped_early,
    }
