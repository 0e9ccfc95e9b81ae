"""Bag replay and recording in the live graph (rclpy), publishing the serialized bytes as recorded.

:class:`BagPlayer` publishes a bag's messages with their original timing (or ``rate`` times faster)
and a ``/clock`` carrying the bag time, for nodes with ``use_sim_time``. :class:`Recorder` subscribes
with ``raw=True`` and writes what arrives, untouched, into a new bag (log time = receive time).
Message classes come from the installed ROS packages; a topic whose type is not installed here
(tf2_msgs, for one) is skipped, counted and logged.

QoS: the player offers reliable, volatile QoS, except for topics whose bag records a transient-local
publisher (and ``/tf_static``, whose static broadcasters always are): those are offered transient
local, as recorded, so tf2's static listener and other latched subscribers match and late joiners
receive them. The recorder records the QoS the publishers offered with each topic.
"""
from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSCompatibility,
    QoSProfile,
    ReliabilityPolicy,
    qos_check_compatible,
)
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosgraph_msgs.msg import Clock

from nlspn_ros.bag.reader import BagReader
from nlspn_ros.bag.writer import DEFAULT_OFFERED_QOS, BagWriter
from nlspn_ros.pipeline.conversions import ns_to_stamp_fields

RELIABLE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


class ReplayError(RuntimeError):
    """A replay that cannot start or go on; the message says why (printed without a traceback)."""


def replay_qos(offered: tuple[Qos, ...], message_count: int, default: QoSProfile = RELIABLE) -> QoSProfile:
    """The QoS the player offers for a topic whose bag recorded ``offered`` (``message_count`` messages).

    ``default``, except transient local when a recorded publisher was: a transient-local subscriber
    (tf2's static listener) does not match a volatile publisher. Such a topic keeps every message of
    the bag for late joiners (several static broadcasters each sent their own transforms), up to 1000.
    """
    if any(q.durability == QosDurability.TRANSIENT_LOCAL for q in offered):
        depth = max([message_count, 1, *(q.depth for q in offered)])
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=min(depth, 1000),
                          reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    return default


def recorded_qos(profile: QoSProfile) -> Qos:
    """An rclpy QoS profile (what a publisher offers) as the bag records it."""
    def time(duration) -> QosTime:
        sec, nsec = divmod(duration.nanoseconds, 1_000_000_000)
        return QosTime(sec, nsec)

    return Qos(QosHistory(int(profile.history)), profile.depth, QosReliability(int(profile.reliability)),
               QosDurability(int(profile.durability)), time(profile.deadline), time(profile.lifespan),
               QosLiveliness(int(profile.liveliness)), time(profile.liveliness_lease_duration),
               profile.avoid_ros_namespace_conventions)


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
    a replay apart from live sensors on the same graph; ``publishers`` stays keyed by the bag's names,
    :meth:`published_name` gives the name in the graph.
    """

    def __init__(self, node: Node, bag: str | Path, *, rate: float = 1.0, topics: Iterable[str] | None = None,
                 publish_clock: bool = True, qos: QoSProfile = RELIABLE, prefix: str = "") -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.node, self.rate = node, rate
        self.reader = BagReader(bag)
        wanted = set(self.reader.topics if topics is None else topics)
        self.prefix = prefix.rstrip("/")
        self.publishers = {}
        self.qos: dict[str, QoSProfile] = {}
        self.skipped_topics: dict[str, str] = {}
        for topic, msgtype in sorted(self.reader.topics.items()):
            if topic not in wanted:
                continue
            cls = message_class(msgtype)
            if cls is None:
                self.skipped_topics[topic] = msgtype
                node.get_logger().warning(f"{topic}: {msgtype} is not installed here; not replayed")
                continue
            offered = self.reader.offered_qos.get(topic) or DEFAULT_OFFERED_QOS.get(topic, ())
            self.qos[topic] = replay_qos(offered, self.reader.message_counts.get(topic, 1), qos)
            self.publishers[topic] = node.create_publisher(cls, self.published_name(topic), self.qos[topic])
        self.clock = node.create_publisher(Clock, "/clock", 10) if publish_clock else None
        self.published: dict[str, int] = dict.fromkeys(self.publishers, 0)

    def published_name(self, topic: str) -> str:
        return self.prefix + topic

    def bag_topic(self, name: str) -> str:
        """The bag topic published as ``name``; ``name`` may also be the bag's own name for it."""
        for topic in self.publishers:
            if name in (topic, self.published_name(topic)):
                return topic
        replayed = ", ".join(self.published_name(t) for t in self.publishers) or "none"
        skipped = f" ({name} has a type not installed here)" if name in self.skipped_topics else ""
        raise ReplayError(f"{name} is not a replayed topic{skipped}; replayed: {replayed}")

    def _ready(self, topic: str, node: str | None) -> bool:
        publisher = self.publishers[topic]
        if node is None:
            return publisher.get_subscription_count() >= 1
        # The node's own subscription must be in the graph, and this publisher must have matched every
        # compatible subscription the graph shows (the graph can list a reader before it matched).
        readers = self.node.get_subscriptions_info_by_topic(self.published_name(topic))
        if not any(_qualified(r.node_namespace, r.node_name) == node for r in readers):
            return False
        compatible = [r for r in readers
                      if qos_check_compatible(self.qos[topic], r.qos_profile)[0] != QoSCompatibility.ERROR]
        return publisher.get_subscription_count() >= len(compatible)

    def wait_for_subscribers(self, topics: Iterable[str], timeout: float, node: str | None = None) -> None:
        """Block until each of ``topics`` (bag or published names) is subscribed, by ``node`` (its fully
        qualified name) when given: then any other subscriber (RViz, a recorder) does not count.

        Raises :class:`ReplayError` on a topic that is not replayed or after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        missing = [self.bag_topic(t) for t in topics]
        while missing:
            missing = [t for t in missing if not self._ready(t, node)]
            if missing and time.monotonic() > deadline:
                names = [self.published_name(t) for t in missing]
                who = f"{node} has not subscribed" if node else "no subscriber on"
                raise ReplayError(f"{who} {', '.join(names)} after {timeout:g} s; nothing was replayed")
            time.sleep(0.05)

    def best_effort_readers(self, topics: Iterable[str], node: str) -> list[str]:
        """Of ``topics``, those ``node`` reads best effort (what it misses is not sent again)."""
        return [self.published_name(t) for t in map(self.bag_topic, topics)
                if any(_qualified(r.node_namespace, r.node_name) == node
                       and r.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
                       for r in self.node.get_subscriptions_info_by_topic(self.published_name(t)))]

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


def _qualified(namespace: str, name: str) -> str:
    return namespace.rstrip("/") + "/" + name


def _time_msg(ns: int):
    from builtin_interfaces.msg import Time

    return Time(**ns_to_stamp_fields(ns))


def _compatible_qos(node: Node, topic: str) -> QoSProfile:
    """Reliable unless a publisher offers only best effort (a reliable reader would not match it);
    transient local when every publisher offers it (so what they sent before the recorder matched
    is recorded too)."""
    infos = node.get_publishers_info_by_topic(topic)
    best_effort = any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for i in infos)
    latched = bool(infos) and all(i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for i in infos)
    reliability = ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=reliability,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)


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
            offered = tuple(recorded_qos(i.qos_profile) for i in node.get_publishers_info_by_topic(topic))
            callback = self._callback(topic, msgtype, offered)
            self.subscriptions.append(
                node.create_subscription(cls, topic, callback, _compatible_qos(node, topic), raw=True))

    def _callback(self, topic: str, msgtype: str, offered: tuple[Qos, ...]) -> Callable[[bytes], None]:
        def write(data: bytes) -> None:
            with self._lock:
                if self._closed:
                    return
                self.writer.write_raw(topic, msgtype, data, self._clock.now().nanoseconds, offered)
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
