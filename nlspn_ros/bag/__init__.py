"""Bag tools core (rosbags, no rclpy): typestore, streaming reader, message builders, writer."""
