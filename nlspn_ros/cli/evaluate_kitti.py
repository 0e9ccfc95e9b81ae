"""``nlspn_ros evaluate-kitti``: held-out LiDAR scores and PNG panels on the real KITTI sample frames."""

from __future__ import annotations

import argparse

HELP = "score IP-Basic and NLSPN on real KITTI frames against held-out LiDAR pixels (A) or laser rings (B)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", help="NLSPN checkpoint (default: the shipped model)")
    parser.add_argument(
        "--kitti-dir",
        nargs="+",
        help="KITTI raw drive folders, odometry roots or object-layout folders (default: shared samples)",
    )
    parser.add_argument(
        "--protocol",
        choices=("pixels", "rings", "both"),
        default="both",
        help="A: pixels (a share of the projected pixels held out), B: rings (every other laser ring "
        "held out), or both (default)",
    )
    parser.add_argument(
        "--holdout", type=float, default=0.2, help="pixels: share of projected pixels held out"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-depth", type=float, default=90.0)
    parser.add_argument("--panels", help="write PNG panels (image, sparse, dense, confidence, error) here")
    parser.add_argument("--json", help="write the results here")


def run(args: argparse.Namespace) -> int:
    import json

    from nlspn_ros import paths
    from nlspn_ros.data.kitti import read_kitti
    from nlspn_ros.model import load_checkpoint
    from nlspn_ros.offline.frame_evaluation import evaluate_real

    checkpoint = args.checkpoint or paths.DEFAULT_CHECKPOINT
    folders = args.kitti_dir or [paths.kitti_samples_dir()]
    model, _ = load_checkpoint(checkpoint)
    protocols = ("pixels", "rings") if args.protocol == "both" else (args.protocol,)
    results = {}
    for protocol in protocols:
        frames = (frame for folder in folders for frame in read_kitti(folder))
        table = evaluate_real(model, frames, protocol, args.holdout, args.seed, args.max_depth, args.panels)
        held = f"{args.holdout:.0%} of projected pixels" if protocol == "pixels" else "the odd laser rings"
        print(
            f"\nprotocol {protocol}: {table.frames} frames, {held} held out (seed {args.seed}), "
            f"checkpoint {checkpoint}"
        )
        print(table.markdown())
        for row in table.per_frame:
            print(json.dumps(row))
        results[protocol] = table.as_dict()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"checkpoint": str(checkpoint), "folders": [str(p) for p in folders], **results}, f, indent=1
            )
    return 0
