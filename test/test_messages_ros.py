"""Two real ROS 2 processes exchange an nlspn_ros/DepthCompletion (the generated message works)."""
import numpy as np
import pytest
import rclpy
from rclpy.node import Node

from nlspn_ros.msg import DepthCompletion

from ros_util import spin_until, start_process, stop_process


@pytest.fixture
def ros_node():
    rclpy.init()
    node = Node("completion_listener")
    yield node
    node.destroy_node()
    rclpy.shutdown()


def test_depth_completion_crosses_processes(ros_node):
    received: list[DepthCompletion] = []
    ros_node.create_subscription(DepthCompletion, "completion", received.append, 10)
    publisher = start_process(["test/processes/publish_completion.py"])
    try:
        arrived = spin_until(ros_node, lambda: bool(received), timeout=20.0)
    finally:
        output = stop_process(publisher)
    assert arrived, f"no DepthCompletion received from the publisher process; it printed:\n{output}"
    msg = received[0]
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1234, 5678)
    assert msg.header.frame_id == "camera_optical"
    assert msg.num_input_points == 42
    assert msg.latency_ms == pytest.approx(12.5)
    depth = np.frombuffer(bytes(msg.depth.data), dtype="<f4").reshape(msg.depth.height, msg.depth.width)
    np.testing.assert_array_equal(depth, np.arange(12, dtype="<f4").reshape(3, 4) / 4.0)
