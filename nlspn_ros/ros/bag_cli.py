"""The rclpy side of the ``replay`` and ``record`` subcommands (nlspn_ros/cli/ stays ROS-free)."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from nlspn_ros.bag.errors import BagError
from nlspn_ros.ros.bag_io import BagPlayer, Recorder, ReplayError


@dataclass(frozen=True)
class ReplayOptions:
    """What ``nlspn_ros replay`` does (the command's options; docs in nlspn_ros/cli/replay.py)."""

    bag: Path
    rate: float
    topics: list[str] | None  # None: every topic
    prefix: str
    no_clock: bool
    wait_for_subscribers: float  # seconds; 0: do not wait
    wait_topics: list[str] | None  # None: every replayed topic
    wait_for_node: str | None
    delay: float  # seconds


@dataclass(frozen=True)
class RecordOptions:
    """What ``nlspn_ros record`` does (docs in nlspn_ros/cli/record.py)."""

    output: Path
    topics: list[str]
    storage: str
    duration: float  # seconds; 0: until interrupted
    discovery_timeout: float  # seconds


def _error(message: str, status: int) -> int:
    print(f"nlspn_ros replay: error: {message}", file=sys.stderr, flush=True)
    return status


def replay(args: ReplayOptions) -> int:
    if args.rate <= 0:
        return _error(f"--rate must be > 0, got {args.rate:g}", 2)
    if args.wait_for_node and args.wait_for_subscribers <= 0:
        return _error("--wait-for-node needs --wait-for-subscribers SECONDS", 2)
    wait_node = "/" + args.wait_for_node.strip("/") if args.wait_for_node else None
    rclpy.init()
    node = Node("nlspn_bag_player")
    try:
        try:
            player = BagPlayer(node, args.bag, rate=args.rate, topics=args.topics,
                               publish_clock=not args.no_clock, prefix=args.prefix)
        except (BagError, OSError, ValueError) as err:
            return _error(f"cannot read {args.bag}: {err}", 1)
        try:
            waited = [player.bag_topic(t) for t in args.wait_topics or player.publishers]
        except ReplayError as err:
            return _error(f"--wait-topics: {err}", 2)
        if args.wait_for_subscribers > 0:
            try:
                player.wait_for_subscribers(waited, args.wait_for_subscribers, node=wait_node)
            except ReplayError as err:
                return _error(str(err), 1)
            if wait_node:
                for topic in player.best_effort_readers(waited, wait_node):
                    print(f"warning: {wait_node} reads {topic} best effort: a message it misses "
                          "is not sent again", flush=True)
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


def record(args: RecordOptions) -> int:
    rclpy.init()
    node = Node("nlspn_bag_recorder")
    recorder = None
    try:
        deadline = time.monotonic() + args.discovery_timeout
        types: dict[str, str] = {}
        while time.monotonic() < deadline and len(types) < len(args.topics):
            # a topic counts once it has a publisher: its type, and the QoS recorded with it (and
            # matched by the recorder's subscription), are the publishers'; a subscriber alone has none
            graph = dict(node.get_topic_names_and_types())
            types = {t: graph[t][0] for t in args.topics if graph.get(t) and node.count_publishers(t)}
            rclpy.spin_once(node, timeout_sec=0.1)
        missing = sorted(set(args.topics) - set(types))
        if missing:
            print(f"error: no publisher on {missing} after {args.discovery_timeout:.0f} s")
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
