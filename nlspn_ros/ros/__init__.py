"""The ROS 2 layer: the only code importing rclpy."""
