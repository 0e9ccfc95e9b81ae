"""``nlspn_ros evaluate``: score a bag offline (no ROS graph), or a bag recorded from the live node."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Evaluate depth completion on a rosbag2 offline (KITTI metrics per frame and overall)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", type=Path, help="rosbag2 directory, .mcap or .db3 file")
    parser.add_argument("--method", choices=("nlspn", "ip_basic"),
                        help="completer (default: the params' method, else nlspn with the shipped model)")
    parser.add_argument("--checkpoint", type=Path, help="NLSPN checkpoint (default: shipped model)")
    parser.add_argument("--device", help="torch device: auto (default), cpu, cuda, cuda:N")
    parser.add_argument("--params", type=Path, action="append", default=[], metavar="YAML",
                        help="node parameter file(s) (calibration, crop, depth range, sync); default: "
                        "<bag>.params.yaml when it exists")
    parser.add_argument("--output", "-o", type=Path, help="write metrics.json (and panels) into this folder")
    parser.add_argument("--panels", action="store_true", help="write a PNG panel per frame (needs --output)")
    parser.add_argument("--holdout", type=float, default=0.2,
                        help="without a ground-truth topic: fraction of LiDAR pixels held out (default 0.2)")
    parser.add_argument("--protocol", choices=("pixels", "rings"), default="pixels",
                        help="without a ground-truth topic: hold out a share of the projected pixels "
                        "(A, default) or the odd laser rings of the clouds' ring field (B)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the held-out split (default 0)")
    parser.add_argument("--mode", choices=("auto", "offline", "recorded"), default="auto",
                        help="offline: complete the sensor topics; recorded: score the node outputs in the "
                        "bag; auto: recorded when the bag has node outputs")
    for name in ("image", "camera-info", "points", "ground-truth", "completion", "depth"):
        parser.add_argument(f"--{name}", metavar="TOPIC", help=f"{name} topic (default: detected)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from nlspn_ros.bag.errors import BagError
    from nlspn_ros.bag.make import params_beside
    from nlspn_ros.model import CheckpointError
    from nlspn_ros.offline.bag_report import evaluate_bag, print_table

    if args.panels and args.output is None:
        print("error: --panels needs --output")
        return 2
    params = args.params or params_beside(args.bag)
    try:
        overrides = {"method": args.method, "device": args.device,
                     "checkpoint": str(args.checkpoint) if args.checkpoint else None}
        overrides = {k: v for k, v in overrides.items() if v}
        result = evaluate_bag(
            args.bag, params=params, overrides=overrides, output=args.output, panels=args.panels,
            holdout=args.holdout, seed=args.seed, mode=args.mode, protocol=args.protocol,
            progress=not args.quiet,
            topics={"image": args.image, "camera_info": args.camera_info, "points": args.points,
                    "ground_truth": args.ground_truth, "completion": args.completion, "depth": args.depth})
    except (BagError, CheckpointError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}")
        return 1
    print_table(result)
    if args.output:
        print(f"metrics: {args.output / 'metrics.json'}")
    if result.error:
        print(f"error: {result.error} (the {len(result.frames)} frames before it are scored above)")
        return 3
    return 0 if result.frames else 1
