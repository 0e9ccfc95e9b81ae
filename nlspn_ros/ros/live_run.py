"""Replay a bag through a running node and record its outputs, losing no frame (the demo's live half).

The node runs in its own process (as deployed). This process replays the bag with
:class:`BagPlayer` (reliable QoS, /clock) and records the node's ``completion`` output plus the
ground-truth topic with :class:`Recorder`. The node hands frames over latest-wins, so the replay is
paced: image k+1 is published only once the output of image k arrived (or ``frame_timeout``
passed); the bag's own timing is kept otherwise. ``sent_at_ns`` and the recorded log times (wall
clock at reception) give the end-to-end latency of every frame.
"""
from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from nlspn_ros.bag.topics import BagTopics
from nlspn_ros.bag.types import DEPTH_COMPLETION, IMAGE
from nlspn_ros.ros.bag_io import BagPlayer, Recorder


@dataclass
class LiveRun:
    recorded: Path
    published: dict[str, int]
    outputs: int
    images: int
    sent_at_ns: dict[int, int] = field(default_factory=dict)  # image log time -> wall time it was sent
    timed_out_frames: int = 0


def wait_for_publisher(node: Node, topic: str, process: subprocess.Popen, timeout: float) -> None:
    """Block until ``topic`` has a publisher (the node finished starting); fail early if it died."""
    deadline = time.monotonic() + timeout
    while node.count_publishers(topic) == 0:
        if process.poll() is not None:
            raise RuntimeError(f"the node process exited ({process.returncode}) before publishing {topic}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no publisher on {topic} after {timeout:.0f} s")
        time.sleep(0.1)


def replay_and_record(bag: Path, topics: BagTopics, output_topic: str, recorded: Path,
                      node_process: subprocess.Popen, *, rate: float = 1.0, frame_timeout: float = 120.0,
                      start_timeout: float = 180.0, prefix: str = "") -> LiveRun:
    """Replay ``bag`` into the graph (topics under ``prefix``), record ``output_topic`` (a
    DepthCompletion) and the ground truth as replayed."""
    rclpy.init()
    node = Node("nlspn_demo_player")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        wait_for_publisher(node, output_topic, node_process, start_timeout)
        player = BagPlayer(node, bag, rate=rate, prefix=prefix)
        record_topics = {output_topic: DEPTH_COMPLETION}
        if topics.ground_truth:
            record_topics[prefix.rstrip("/") + topics.ground_truth] = IMAGE
        recorder = Recorder(node, recorded, record_topics)
        inputs = [t for t in (topics.image, topics.camera_info, topics.points) if t]
        player.wait_for_subscribers(inputs, timeout=30.0)
        player.wait_for_subscribers([topics.ground_truth] if topics.ground_truth else [], timeout=30.0)
        time.sleep(0.5)  # the node's output publisher must have matched the recorder too
        sent_at: dict[int, int] = {}
        timed_out = 0

        def outputs() -> int:
            return recorder.counts[output_topic]

        def wait_outputs(count: int) -> bool:
            deadline = time.monotonic() + frame_timeout
            while outputs() < count:
                if node_process.poll() is not None:
                    raise RuntimeError(f"the node process exited with code {node_process.returncode}")
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.005)
            return True

        def pace(topic: str, log_time_ns: int) -> None:
            nonlocal timed_out
            if topic != topics.image:
                return
            if sent_at and not wait_outputs(len(sent_at)):
                timed_out += 1
            sent_at[log_time_ns] = time.time_ns()

        published = player.play(before_publish=pace)
        player.wait_for_delivery()
        if not wait_outputs(len(sent_at)):
            timed_out += 1
        time.sleep(0.2)
        recorder.close()
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return LiveRun(recorded, published, outputs(), len(sent_at), sent_at, timed_out)
