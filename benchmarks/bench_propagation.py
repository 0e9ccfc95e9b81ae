"""Propagation speed: the precomputed sampling plan vs the direct port of the official DCN loop.

    .venv/bin/python -m benchmarks.bench_propagation [--repeats 3] [--device cpu|cuda|all] [--threads N]
        [--allocator kept|default]

Times ``prop_time`` iterations (plan set-up included for ours) at KITTI (1216x240) and NYU
(304x228) training crops, batch 1 and 4, forward and forward+backward, and checks the
accuracy of our float32 propagation against a float64 run of the port on depths of 0-80 m
at 1216 px width (target: max abs error < 1 mm; speed-up >= 4x forward, >= 5x fwd+bwd on CPU).
The port samples with ``grid_sample`` (a fused kernel): a strong baseline, faster than a literal
per-tap translation of DCNv2's im2col (docs/model.md, Benchmarks).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from benchmarks.reference_propagation import propagate as port_propagate
from nlspn_ros.allocator import keep_freed_memory
from nlspn_ros.model.sampling import propagate

SIZES = ((240, 1216), (228, 304))
BATCHES = (1, 4)


def make_inputs(batch: int, height: int, width: int, kernel: int = 3, seed: int = 0,
                dtype: torch.dtype = torch.float32, device: str = "cpu") -> dict[str, torch.Tensor]:
    """Official-layout inputs: offsets (B, 2k^2) with a zero centre tap, TGASS-like affinities
    (B, k^2) with the reference at the centre, depths 0-80 m, 5% sparse fixed points."""
    gen = torch.Generator().manual_seed(seed)
    taps = kernel * kernel
    centre = taps // 2
    offset = 1.5 * torch.randn(batch, taps, 2, height, width, generator=gen, dtype=torch.float64)
    offset[:, centre] = 0.0
    # Mostly positive affinities summing to at most 1 (a trained TGASS model's regime: the
    # propagation stays a weighted average and depths stay in range).
    aff = torch.rand(batch, taps - 1, height, width, generator=gen, dtype=torch.float64) - 0.1
    aff = aff / aff.abs().sum(1, keepdim=True).clamp(min=1.0)
    aff = torch.cat((aff[:, :centre], 1.0 - aff.sum(1, keepdim=True), aff[:, centre:]), dim=1)
    depth = 80.0 * torch.rand(batch, 1, height, width, generator=gen, dtype=torch.float64)
    fix = torch.where(torch.rand(batch, 1, height, width, generator=gen) < 0.05, depth, 0.0)
    tensors = {"offset": offset.view(batch, 2 * taps, height, width), "aff": aff, "feat": depth, "fix": fix}
    return {k: v.to(device=device, dtype=dtype) for k, v in tensors.items()}


def plan_propagate(feat: torch.Tensor, offset: torch.Tensor, aff: torch.Tensor, prop_time: int,
                   fix: torch.Tensor | None = None) -> torch.Tensor:
    """Ours on official layouts (as the model calls it): the plan is built once inside, then
    ``prop_time`` cheap iterations."""
    batch, taps, height, width = aff.shape
    kernel, centre = int(round(taps ** 0.5)), taps // 2
    half = (kernel - 1) // 2
    grid = torch.tensor([(t // kernel - half, t % kernel - half) for t in range(taps) if t != centre],
                        dtype=feat.dtype, device=feat.device)
    offset = offset.view(batch, taps, 2, height, width)
    taps_offset = torch.cat((offset[:, :centre], offset[:, centre + 1:]), dim=1)
    tap_weight = torch.cat((aff[:, :centre], aff[:, centre + 1:]), dim=1)
    keep = fixed = None
    if fix is not None:
        mask = (fix > 0).to(fix.dtype)
        keep, fixed = 1.0 - mask, mask * fix
    return propagate(taps_offset[:, :, 0], taps_offset[:, :, 1], tap_weight, aff[:, centre:centre + 1], feat,
                     prop_time, keep, fixed, tap_shift=grid)[-1]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_ms(fns, repeats: int, device: str) -> list[float]:
    """Median ms of each of ``fns``, run in turn within every repeat: on a VM whose speed drifts
    (single runs vary by +-15% here, and more between minutes), both sides of a ratio see the
    same conditions."""
    for fn in fns:
        fn()  # warm-up
    _sync(device)
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, times in zip(fns, samples, strict=True):
            start = time.perf_counter()
            fn()
            _sync(device)
            times.append((time.perf_counter() - start) * 1e3)
    return [statistics.median(times) for times in samples]


def run_case(impl, inputs: dict[str, torch.Tensor], prop_time: int, backward: bool):
    def step():
        if not backward:
            with torch.no_grad():
                return impl(inputs["feat"], inputs["offset"], inputs["aff"], prop_time, inputs["fix"])
        leaves = {k: inputs[k].detach().requires_grad_() for k in ("feat", "offset", "aff")}
        out = impl(leaves["feat"], leaves["offset"], leaves["aff"], prop_time, inputs["fix"])
        out.sum().backward()
        return out
    return step


def accuracy_mm(prop_time: int, device: str) -> float:
    """Max abs error (mm) of our float32 propagation vs the float64 port, 1216 px wide."""
    ref_inputs = make_inputs(1, 240, 1216, dtype=torch.float64, device=device, seed=1)
    ours_inputs = {k: v.float() for k, v in ref_inputs.items()}
    with torch.no_grad():
        ref = port_propagate(ref_inputs["feat"], ref_inputs["offset"], ref_inputs["aff"], prop_time,
                             ref_inputs["fix"])
        ours = plan_propagate(ours_inputs["feat"], ours_inputs["offset"], ours_inputs["aff"], prop_time,
                              ours_inputs["fix"])
    return float((ours.double() - ref).abs().max()) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prop-time", type=int, default=18)
    parser.add_argument("--device", default="all", help="cpu, cuda or all (cuda when available)")
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES))
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    parser.add_argument("--allocator", choices=("kept", "default"), default="kept",
                        help="kept: the keep_freed_memory() settings the node and the nlspn_ros tools "
                             "start with (default); default: glibc's")
    args = parser.parse_args()
    kept = args.allocator == "kept" and keep_freed_memory()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]

    print(f"# machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, allocator {'kept (as the node)' if kept else 'glibc defaults'}"
          + (f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
    print(f"# accuracy vs float64 port, 1216x240, {args.prop_time} iters, depths 0-80 m: "
          f"max abs error {accuracy_mm(args.prop_time, 'cpu'):.4f} mm (target < 1 mm)")
    print("device | size | batch | pass | port ms | ours ms | speed-up")
    for device in devices:
        for height, width in SIZES:
            for batch in args.batches:
                inputs = make_inputs(batch, height, width, device=device)
                for backward in (False, True):
                    port, ours = time_ms([run_case(impl, inputs, args.prop_time, backward)
                                          for impl in (port_propagate, plan_propagate)], args.repeats, device)
                    label = "fwd+bwd" if backward else "fwd"
                    print(f"{device} | {width}x{height} | {batch} | {label} | {port:.1f} | {ours:.1f} | "
                          f"{port / ours:.1f}x", flush=True)


if __name__ == "__main__":
    main()
