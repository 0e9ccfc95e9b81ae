"""``nlspn_ros make-bag``: write a rosbag2 from synthetic scenes or KITTI files."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Write a rosbag2 (mcap or sqlite3) from synthetic scenes (with ground-truth depth) or KITTI files."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output", type=Path, help="bag directory to create (must not exist)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--synthetic", type=int, metavar="N", help="N rendered scenes (with ground truth)")
    source.add_argument("--kitti", type=Path, metavar="DIR",
                        help="KITTI folder: a raw drive (<day>/<day>_drive_NNNN_sync, calibration in <day>; "
                        "recorded stamps, OXTS poses as /tf), an odometry root (sequences/, poses/) or the "
                        "object layout (image_2/, velodyne/, calib/)")
    parser.add_argument("--frames", nargs="+", metavar="NAME",
                        help="KITTI frames: object-layout names or raw frame numbers (default: all)")
    parser.add_argument("--width", type=int, default=320, help="synthetic image width (default 320)")
    parser.add_argument("--height", type=int, default=96, help="synthetic image height (default 96)")
    parser.add_argument("--seed", type=int, default=0, help="first synthetic scene seed (default 0)")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    parser.add_argument("--rate", type=float, default=10.0, help="frame rate of the stamps, Hz (default 10)")
    parser.add_argument("--lidar-offset-ms", type=float, default=3.0,
                        help="cloud stamp = image stamp plus this (default 3 ms)")
    parser.add_argument("--holdout", type=float, default=0.0, metavar="FRACTION",
                        help="KITTI: move this fraction of each cloud's points (fixed seed) into a sparse "
                        "ground-truth depth topic the node never sees (default 0: none)")
    parser.add_argument("--holdout-rings", action="store_true",
                        help="KITTI: move the odd laser rings into the ground-truth topic instead (a 32-beam "
                        "input; evaluation protocol B)")


def run(args: argparse.Namespace) -> int:
    from nlspn_ros.bag.make import write_sensor_bag
    from nlspn_ros.data.sensor_frames import hold_out_points, hold_out_rings, kitti_frames, synthetic_frames

    if args.synthetic is not None:
        frames = synthetic_frames(args.synthetic, args.width, args.height, args.seed)
    else:
        if args.holdout > 0 and args.holdout_rings:
            print("error: give --holdout or --holdout-rings, not both")
            return 2
        frames = kitti_frames(args.kitti, args.frames)
        if args.holdout > 0:
            frames = hold_out_points(frames, args.holdout)
        elif args.holdout_rings:
            frames = hold_out_rings(frames)
    summary = write_sensor_bag(args.output, frames, storage=args.storage, rate_hz=args.rate,
                               lidar_offset_ms=args.lidar_offset_ms)
    print(f"wrote {len(summary.frames)} frames to {summary.path} ({args.storage})")
    print(f"node parameters (calibration, topics): {summary.params_file}")
    return 0
