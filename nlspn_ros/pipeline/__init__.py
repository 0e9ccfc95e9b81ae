"""The node's frame pipeline, ROS-free: the node and the offline tools run the same code.

Messages (rclpy or rosbags) -> arrays (:mod:`.conversions`), image/cloud pairing (:mod:`.pairing`),
latest-wins hand-over to the worker (:mod:`.mailbox`), the per-frame steps (:mod:`.frame`), the
node's settings (:mod:`.settings`, read from parameter files by :mod:`.param_files`) and its
extrinsic (:mod:`.extrinsic_source`).
"""
