"""Bag replay and recording in the live graph (rclpy), publishing the serialized bytes as recorded.

:class:`BagPlayer` publishes a bag's messages with their original timing (or ``rate`` times faster)
and a ``/clock`` carrying the bag time, for nodes with ``use_sim_time``. :class:`Recorder` subscribes
with ``raw=True`` and writes what arrives, untouched, into a new bag (log time = receive time).
Message classes come from the installed ROS packages; a topic whose type is not installed here
(tf2_msgs, for one) is skipped, counted and logged.
"""
from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock

from nlspn_ros.bag.reader import BagReader
from nlspn_ros.bag.writer import BagWriter
from nlspn_ros.conversions import ns_to_stamp_fields

RELIABLE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


def message_class(msgtype: str) -> type | None:
    """``pkg/msg/Name`` -> the installed rclpy message class, or None when not installed here."""
    package, _, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError):
        return None


class BagPlayer:
    """Publishes a bag's messages from ``node``; ``play()`` blocks until done.

    ``prefix`` is put before every topic name (``/camera/image`` -> ``<prefix>/camera/image``), to keep
    a replay apart from live sensors on the same graph; ``publishers`` stays keyed by the bag's names.
    """

    def __init__(self, node: Node, bag: str | Path, *, rate: float = 1.0, topics: Iterable[str] | None = None,
                 publish_clock: bool = True, qos: QoSProfile = RELIABLE, prefix: str = "") -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.node, self.rate = node, rate
        self.reader = BagReader(bag)
        wanted = set(self.reader.topics if topics is None else topics)
        self.publishers = {}
        self.skipped_topics: dict[str, str] = {}
        for topic, msgtype in sorted(self.reader.topics.items()):
            if topic not in wanted:
                continue
            cls = message_class(msgtype)
            if cls is None:
                self.skipped_topics[topic] = msgtype
                node.get_logger().warning(f"{topic}: {msgtype} is not installed here; not replayed")
                continue
            self.publishers[topic] = node.create_publisher(cls, prefix.rstrip("/") + topic, qos)
        self.clock = node.create_publisher(Clock, "/clock", 10) if publish_clock else None
        self.published: dict[str, int] = dict.fromkeys(self.publishers, 0)

    def wait_for_subscribers(self, topics: Iterable[str], timeout: float, count: int = 1) -> None:
        """Block until each of ``topics`` has ``count`` matched subscriptions (late joiners: ~3 s)."""
        deadline = time.monotonic() + timeout
        missing = list(topics)
        while missing:
            missing = [t for t in missing if self.publishers[t].get_subscription_count() < count]
            if missing and time.monotonic() > deadline:
                raise TimeoutError(f"no subscriber on {missing} after {timeout:.0f} s")
            time.sleep(0.05)

    def play(self, before_publish: Callable[[str, int], None] | None = None) -> dict[str, int]:
        """Publish everything (``before_publish(topic, log_time_ns)`` may block to pace); counts per topic."""
        start_wall = time.monotonic()
        start_bag = None
        for message in self.reader.messages(topics=self.publishers, decode=False):
            start_bag = message.log_time_ns if start_bag is None else start_bag
            delay = start_wall + (message.log_time_ns - start_bag) / 1e9 / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if before_publish is not None:
                before_publish(message.topic, message.log_time_ns)
            if self.clock is not None:
                self.clock.publish(Clock(clock=_time_msg(message.log_time_ns)))
            self.publishers[message.topic].publish(message.rawdata)
            self.published[message.topic] += 1
        return self.published

    def wait_for_delivery(self, timeout: float = 10.0) -> bool:
        """Block until reliable subscribers acknowledged everything published (call before exiting)."""
        deadline = time.monotonic() + timeout
        for publisher in self.publishers.values():
            left = max(0.0, deadline - time.monotonic())
            if not publisher.wait_for_all_acked(Duration(nanoseconds=int(left * 1e9))):
                return False
        return True


def _time_msg(ns: int):
    from builtin_interfaces.msg import Time

    return Time(**ns_to_stamp_fields(ns))


def _compatible_qos(node: Node, topic: str) -> QoSProfile:
    """Reliable unless a publisher offers only best effort (a reliable reader would not match it)."""
    infos = node.get_publishers_info_by_topic(topic)
    best_effort = any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for i in infos)
    if not best_effort:
        return RELIABLE
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.BEST_EFFORT)


class Recorder:
    """Records ``topics`` (topic -> message type) as raw bytes into a new bag at ``path``."""

    def __init__(self, node: Node, path: str | Path, topics: dict[str, str], storage: str = "mcap") -> None:
        self.node = node
        self.writer = BagWriter(path, storage).__enter__()
        self.counts: dict[str, int] = dict.fromkeys(topics, 0)
        self._lock = threading.Lock()
        self._closed = False
        self._clock = node.get_clock()
        self.subscriptions = []
        for topic, msgtype in topics.items():
            cls = message_class(msgtype)
            if cls is None:
                raise ValueError(f"cannot record {topic}: message type {msgtype} is not installed here")
            callback = self._callback(topic, msgtype)
            self.subscriptions.append(
                node.create_subscription(cls, topic, callback, _compatible_qos(node, topic), raw=True))

    def _callback(self, topic: str, msgtype: str) -> Callable[[bytes], None]:
        def write(data: bytes) -> None:
            with self._lock:
                if self._closed:
                    return
                self.writer.write_raw(topic, msgtype, data, self._clock.now().nanoseconds)
                self.counts[topic] += 1
        return write

    def close(self) -> dict[str, int]:
        with self._lock:
            if not self._closed:
                self._closed = True
                for subscription in self.subscriptions:
                    self.node.destroy_subscription(subscription)
                self.writer.__exit__(None, None, None)
        return self.counts
