"""Start nlspn_node on one camera + LiDAR.

    ros2 launch nlspn_ros nlspn.launch.py image:=/camera/image_rect camera_info:=/camera/camera_info \
        points:=/velodyne_points params_file:=/path/to/my_robot.yaml

``ros2 launch nlspn_ros nlspn.launch.py --show-args`` lists the arguments; what they start is decided
in nlspn_ros/ros/launch_plan.py (docs/bags_and_launch.md).
"""
from nlspn_ros.ros.launch_actions import launch_description


def generate_launch_description():
    return launch_description("nlspn.launch.py")
