"""The ROS 2 layer: the only code importing rclpy, launch and tf2_ros.

:mod:`.launch_plan` is the exception that proves the rule: what the launch files start, decided in
plain Python (no ROS import) so that every machine tests it; :mod:`.launch_actions` turns it into
launch actions.
"""
