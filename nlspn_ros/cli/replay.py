"""``nlspn_ros replay``: publish a bag into the live ROS graph.

Exit status: 0 replayed, 1 the replay could not start or go on (unreadable bag, nobody subscribed in
time: the message says which topics), 2 bad options (a --wait-topics topic that is not replayed,
--rate <= 0), 130 interrupted.
"""
from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Publish a rosbag2 into the live graph (bytes as recorded, original timing or --rate, /clock)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", type=Path, help="rosbag2 directory, .mcap or .db3 file")
    parser.add_argument("--rate", type=float, default=1.0, help="speed factor (2 = twice as fast; default 1)")
    parser.add_argument("--topics", nargs="+", metavar="TOPIC", help="only these topics (default: all)")
    parser.add_argument("--prefix", default="", help="publish every topic under this prefix (e.g. /sim)")
    parser.add_argument("--no-clock", action="store_true", help="do not publish /clock (bag time)")
    parser.add_argument("--wait-for-subscribers", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to SECONDS until the --wait-topics have a subscriber "
                        "(exit status 1 if not)")
    parser.add_argument("--wait-topics", nargs="+", metavar="TOPIC",
                        help="topics --wait-for-subscribers waits for, as published (with --prefix) or as "
                        "in the bag (default: every replayed topic)")
    parser.add_argument("--wait-for-node", metavar="NODE",
                        help="with --wait-for-subscribers: wait until this node (fully qualified, e.g. "
                        "/nlspn/nlspn_node) subscribed the --wait-topics; other subscribers do not count")
    parser.add_argument("--delay", type=float, default=0.0, metavar="SECONDS",
                        help="sleep before replaying (lets late subscribers match)")


def run(args: argparse.Namespace) -> int:
    from nlspn_ros.cli import options
    from nlspn_ros.ros.bag_cli import ReplayOptions, replay

    return replay(options(ReplayOptions, args))
