"""Bag I/O with rosbags (no rclpy).

Typestore, streaming reader with damage recovery, topic detection, message builders and writer;
:mod:`.make` writes sensor bags.
"""
