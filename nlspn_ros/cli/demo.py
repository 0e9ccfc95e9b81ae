"""``nlspn_ros demo``: the main job, end to end on this machine (see docs/bags_and_launch.md).

Builds demo bags (synthetic scenes; plus, when the shared data is present, the KITTI samples and a
real KITTI raw drive with its recorded stamps, scored under holdout protocols A and B), starts
the node process per bag, replays the bag through it live, records its outputs, evaluates the
recording and the bag offline, checks that both agree and writes a report folder.
"""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Main job: demo bags -> live node -> recorded outputs -> evaluation; report folder with metrics."

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", type=Path, default=Path("reports/demo"),
                        help="report folder (default reports/demo, git-ignored; replaced if it exists)")
    parser.add_argument("--frames", type=int, default=6, help="synthetic frames (default 6)")
    parser.add_argument("--width", type=int, default=320, help="synthetic image width (default 320)")
    parser.add_argument("--height", type=int, default=96, help="synthetic image height (default 96)")
    parser.add_argument("--kitti-height", type=int, default=256,
                        help="rows of the bottom crop of the KITTI frames (default 256)")
    parser.add_argument("--no-kitti", action="store_true", help="synthetic scenes only")
    parser.add_argument("--drive", type=Path,
                        help="KITTI raw drive folder to replay (default: the shared drive 0005 when present)")
    parser.add_argument("--drive-step", type=int, default=3,
                        help="replay every Nth frame of the drive (default 3: 13 of the 37 shared frames)")
    parser.add_argument("--method", choices=("nlspn", "ip_basic"), default="nlspn")
    parser.add_argument("--checkpoint", type=Path, help="NLSPN checkpoint (default: shipped model)")
    parser.add_argument("--device", default="auto", help="torch device (default auto)")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    parser.add_argument("--rate", type=float, default=1.0, help="replay speed factor (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from nlspn_ros.cli import options
    from nlspn_ros.ros.demo import DemoOptions, run_demo

    return run_demo(options(DemoOptions, args))
