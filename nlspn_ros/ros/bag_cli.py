"""The rclpy side of the ``replay`` and ``record`` subcommands (nlspn_ros/cli/ stays ROS-free)."""
from __future__ import annotations

import argparse
import time

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from nlspn_ros.ros.bag_io import BagPlayer, Recorder


def replay(args: argparse.Namespace) -> int:
    rclpy.init()
    node = Node("nlspn_bag_player")
    try:
        player = BagPlayer(node, args.bag, rate=args.rate, topics=args.topics,
                           publish_clock=not args.no_clock, prefix=args.prefix)
        if args.wait_for_subscribers > 0:
            player.wait_for_subscribers(args.wait_topics or player.publishers, args.wait_for_subscribers)
        time.sleep(args.delay)
        counts = player.play()
        if not player.wait_for_delivery():
            print("warning: some subscribers did not acknowledge every message within 10 s")
        print(f"replayed {sum(counts.values())} messages: {counts}")
        if player.skipped_topics:
            print(f"not replayed (type not installed here): {player.skipped_topics}")
    except KeyboardInterrupt:
        return 130
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def record(args: argparse.Namespace) -> int:
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
