"""``nlspn_ros record``: write topics of the live graph into a new bag (raw bytes, no conversion)."""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Record topics of the live graph into a new rosbag2 (e.g. the node's outputs, for `evaluate`)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output", type=Path, help="bag directory to create (must not exist)")
    parser.add_argument("--topics", nargs="+", required=True, metavar="TOPIC",
                        help="topics to record; their types are looked up in the graph")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    parser.add_argument("--duration", type=float, default=0.0, help="stop after SECONDS (default: Ctrl-C)")
    parser.add_argument("--discovery-timeout", type=float, default=10.0,
                        help="seconds to wait for a publisher on every topic (default 10)")


def run(args: argparse.Namespace) -> int:
    from nlspn_ros.cli import options
    from nlspn_ros.ros.bag_cli import RecordOptions, record

    return record(options(RecordOptions, args))
