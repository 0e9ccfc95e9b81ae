"""Child process for the replay tests: a node that subscribes topics and prints what it received.

    python test/processes/listen.py NAME [--namespace NS] [--transient-local] [--best-effort]
        [--expect N] TOPIC=pkg/msg/Type ...

Prints ``subscribed`` once its subscriptions exist, then ``received {"topic": count, ...}`` (JSON)
when every topic got ``--expect`` messages or on SIGINT, and exits 0.
"""
import argparse
import json

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from nlspn_ros.ros.bag_io import message_class


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("topics", nargs="+")
    parser.add_argument("--namespace", default="")
    parser.add_argument("--transient-local", action="store_true", help="tf2's static listener durability")
    parser.add_argument("--best-effort", action="store_true")
    parser.add_argument("--expect", type=int, default=0, help="exit once every topic got this many")
    args = parser.parse_args()
    qos = QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=100,
        reliability=ReliabilityPolicy.BEST_EFFORT if args.best_effort else ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if args.transient_local else DurabilityPolicy.VOLATILE)
    rclpy.init()
    node = Node(args.name, namespace=args.namespace)
    counts: dict[str, int] = {}
    for spec in args.topics:
        topic, msgtype = spec.split("=")
        counts[topic] = 0

        def received(_: bytes, topic: str = topic) -> None:
            counts[topic] += 1

        node.create_subscription(message_class(msgtype), topic, received, qos, raw=True)
    print("subscribed", flush=True)
    try:
        while not (args.expect and all(n >= args.expect for n in counts.values())):
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        print(f"received {json.dumps(counts)}", flush=True)
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
