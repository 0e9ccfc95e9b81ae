"""The evaluation set-up: a KITTI bag (``nlspn_ros make-bag --kitti``) replayed into nlspn_node.

    ros2 launch nlspn_ros kitti_playback.launch.py bag:=/path/to/kitti_bag rviz:=true

``--show-args`` lists the arguments; what they start is decided in nlspn_ros/ros/launch_plan.py
(docs/bags_and_launch.md).
"""
from nlspn_ros.ros.launch_actions import launch_description


def generate_launch_description():
    return launch_description("kitti_playback.launch.py")
