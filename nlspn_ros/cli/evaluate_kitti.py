"""``nlspn_ros evaluate-kitti``: held-out LiDAR scores and PNG panels on the real KITTI sample frames."""

from __future__ import annotations

import argparse

HELP = "hold out a share of the projected LiDAR of the KITTI sample frames; score IP-Basic and NLSPN on it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", help="NLSPN checkpoint (default: the shipped model)")
    parser.add_argument(
        "--kitti-dir", help="folder with image_2/, velodyne/, calib/ (default: shared samples)"
    )
    parser.add_argument("--holdout", type=float, default=0.2, help="fraction of projected pixels held out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-depth", type=float, default=90.0)
    parser.add_argument("--panels", help="write PNG panels (image, sparse, dense, confidence, error) here")
    parser.add_argument("--json", help="write the results here")


def run(args: argparse.Namespace) -> int:
    import json

    from nlspn_ros import paths
    from nlspn_ros.evaluation import evaluate_kitti
    from nlspn_ros.model import load_checkpoint

    checkpoint = args.checkpoint or paths.DEFAULT_CHECKPOINT
    kitti_dir = args.kitti_dir or paths.kitti_samples_dir()
    model, _ = load_checkpoint(checkpoint)
    table = evaluate_kitti(model, kitti_dir, args.holdout, args.seed, args.max_depth, args.panels)
    print(
        f"{table.frames} KITTI frames from {kitti_dir}, {args.holdout:.0%} of projected pixels held out "
        f"(seed {args.seed}), checkpoint {checkpoint}"
    )
    print(table.markdown())
    for row in table.per_frame:
        print(json.dumps(row))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"checkpoint": str(checkpoint), **table.as_dict()}, f, indent=1)
    return 0
