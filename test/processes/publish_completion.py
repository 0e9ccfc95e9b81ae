"""Child process for test_messages_ros: publishes a known nlspn_ros/DepthCompletion at 10 Hz."""
import numpy as np
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import Image

from nlspn_ros.msg import DepthCompletion


def main() -> None:
    rclpy.init()
    node = Node("completion_publisher")
    pub = node.create_publisher(DepthCompletion, "completion", 10)
    depth = np.arange(12, dtype="<f4").reshape(3, 4) / 4.0

    def publish() -> None:
        msg = DepthCompletion()
        msg.header.frame_id = "camera_optical"
        msg.header.stamp.sec = 1234
        msg.header.stamp.nanosec = 5678
        msg.depth = Image(height=3, width=4, encoding="32FC1", is_bigendian=0, step=16, data=depth.tobytes())
        msg.depth.header = msg.header
        msg.num_input_points = 42
        msg.latency_ms = 12.5
        pub.publish(msg)

    node.create_timer(0.1, publish)
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
