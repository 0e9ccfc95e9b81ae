"""One nlspn_node per camera, all fed by the same LiDAR, each in namespace ``<camera>/nlspn``.

    ros2 launch nlspn_ros multi_camera.launch.py cameras:=front,left points:=/velodyne_points \
        camera_params:=/path/to/extrinsics/{camera}.yaml

``--show-args`` lists the arguments; what they start is decided in nlspn_ros/ros/launch_plan.py
(docs/bags_and_launch.md).
"""
from nlspn_ros.ros.launch_actions import launch_description


def generate_launch_description():
    return launch_description("multi_camera.launch.py")
