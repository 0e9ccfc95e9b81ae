"""``nlspn_ros evaluate-synthetic``: nearest fill, IP-Basic, NLSPN pred_init and NLSPN on held-out frames."""

from __future__ import annotations

import argparse

HELP = "score nearest fill, IP-Basic and NLSPN (initial and propagated) on held-out synthetic frames"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", help="NLSPN checkpoint (default: the shipped model)")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument(
        "--first-seed", type=int, default=1_000_000, help="seeds below 1000000 are for training"
    )
    parser.add_argument("--cache-dir", help="render each frame once into this folder (.npz)")
    parser.add_argument("--max-depth", type=float, default=90.0)
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--json", help="write the full results (per frame too) here")


def run(args: argparse.Namespace) -> int:
    import json

    import torch

    from nlspn_ros import paths
    from nlspn_ros.model import load_checkpoint
    from nlspn_ros.offline.frame_evaluation import evaluate_synthetic

    if args.threads:
        torch.set_num_threads(args.threads)
    checkpoint = args.checkpoint or paths.DEFAULT_CHECKPOINT
    model, _ = load_checkpoint(checkpoint)
    seeds = range(args.first_seed, args.first_seed + args.frames)
    table = evaluate_synthetic(model, seeds, args.cache_dir, args.max_depth, progress=True)
    print(f"{table.frames} synthetic frames (seeds {seeds.start}..{seeds.stop - 1}), checkpoint {checkpoint}")
    for region, metrics in table.regions.items():
        print(f"\nregion {region}:")
        print(table.markdown(metrics))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"checkpoint": str(checkpoint), "seeds": [seeds.start, seeds.stop], **table.as_dict()},
                f,
                indent=1,
            )
    return 0
