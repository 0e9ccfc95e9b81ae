"""Full NLSPN model per frame (NLSPNCompleter, the node's path), random weights.

    .venv/bin/python -m benchmarks.bench_model [--models small resnet18 resnet34]
        [--sizes 1216x352 640x480] [--repeats N] [--device auto|cpu|cuda] [--channels-last on|off|auto]

Measures ``complete()`` (normalization, CNN, 18 propagation iterations, copy back) under
``torch.inference_mode``. On CUDA: fp32, fp16 and bf16 autocast for the CNN (the propagation
stays float32), channels_last, and the peak GPU memory. On the CPU only fp32. ResNet34 takes
seconds per frame on a small CPU: it runs ``max(1, repeats // 4)`` times there.
"""
from __future__ import annotations

import argparse
import platform
import statistics

import numpy as np
import torch

from nlspn_ros.completion.nlspn import NLSPNCompleter, resolve_device
from nlspn_ros.model import NLSPNConfig, NLSPNModel

CONFIGS = {
    "small": NLSPNConfig.small,
    "small-prefill": lambda: NLSPNConfig.small(prefill="ip_basic"),  # the shipped default
    "resnet18": lambda: NLSPNConfig(network="resnet18", preserve_input=True),
    "resnet34": lambda: NLSPNConfig(network="resnet34", preserve_input=True),
}


def synthetic_frame(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    sparse = np.where(rng.random((height, width)) < 0.05, rng.uniform(1, 80, (height, width)), 0)
    return rgb, sparse.astype(np.float32)


def bench(completer: NLSPNCompleter, frame, repeats: int) -> dict[str, float]:
    cuda = completer.device.startswith("cuda")
    completer.complete(*frame)  # warm-up (allocator, cuDNN autotune)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    totals = [completer.complete(*frame).timings_ms["total"] for _ in range(repeats)]
    result = {"median_ms": statistics.median(totals), "min_ms": min(totals), "runs": repeats}
    if cuda:
        result["peak_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--sizes", nargs="+", default=["1216x352", "640x480"])
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--channels-last", default="auto", choices=["auto", "on", "off"])
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    channels_last = {"auto": None, "on": True, "off": False}[args.channels_last]
    precisions = ["fp32", "fp16", "bf16"] if device.type == "cuda" else ["fp32"]

    gpu = f", GPU {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    print(f"# machine: {platform.machine()} {platform.processor()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads{gpu}; device {device}; prop_time 18")
    print("model | size | precision | median ms | min ms | runs | peak GPU MiB")
    for name in args.models:
        torch.manual_seed(0)
        model = NLSPNModel(CONFIGS[name]())
        for size in args.sizes:
            width, height = (int(v) for v in size.lower().split("x"))
            frame = synthetic_frame(height, width)
            for precision in precisions:
                completer = NLSPNCompleter.from_model(model, device=str(device), precision=precision,
                                                      channels_last=channels_last)
                slow_cpu = device.type != "cuda" and name == "resnet34"
                repeats = max(1, args.repeats // 4) if slow_cpu else args.repeats
                result = bench(completer, frame, repeats)
                peak = f"{result['peak_mib']:.0f}" if "peak_mib" in result else "-"
                print(f"{name} | {size} | {precision} | {result['median_ms']:.0f} | {result['min_ms']:.0f} | "
                      f"{result['runs']} | {peak}", flush=True)


if __name__ == "__main__":
    main()
