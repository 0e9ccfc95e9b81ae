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
                        help="seconds to wait for the topics to appear in the graph (default 10)")


def run(args: argparse.Namespace) -> int:
    import time

    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.node import Node

    from nlspn_ros.ros.bag_io import Recorder

    rclpy.init()
    node = Node("nlspn_bag_recorder")
    recorder = None
    try:
        deadline = time.monotonic() + args.discovery_timeout
        types: dict[str, str] = {}
        while time.monotonic() < deadline and len(types) < len(args.topics):
            graph = dict(node.get_topic_names_and_types())
            types = {t: graph[t][0] for t in args.topics if graph.get(t)}
            rclpy.spin_once(node, timeout_sec=0.1)
        missing = sorted(set(args.topics) - set(types))
        if missing:
            print(f"error: topics not in the graph after {args.discovery_timeout:.0f} s: {missing}")
            return 1
        recorder = Recorder(node, args.output, types, args.storage)
        stop = time.monotonic() + args.duration if args.duration > 0 else float("inf")
        while time.monotonic() < stop:
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if recorder is not None:
            print(f"recorded into {args.output}: {recorder.close()}")
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
