"""The evaluation set-up: a KITTI bag (``nlspn_ros make-bag --kitti``) replayed into nlspn_node.

    ros2 launch nlspn_ros kitti_playback.launch.py bag:=/path/to/kitti_bag rviz:=true

Starts nlspn.launch.py with config/kitti.yaml (calibration, crop, ranges), the make-bag topic names
and use_sim_time, then ``nlspn_ros replay`` (bytes as recorded, /clock) once the node subscribed,
and RViz with config/nlspn.rviz when ``rviz:=true``. ``params_file`` may name the
``<bag>.params.yaml`` make-bag wrote, whose extrinsic is exact for that bag. Record the outputs for
``nlspn_ros evaluate`` with ``nlspn_ros record OUT --topics /nlspn/completion /camera/ground_truth_depth``.
"""
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("nlspn_ros")
    arguments = [
        DeclareLaunchArgument("bag", description="rosbag2 to replay (directory, .mcap or .db3)"),
        DeclareLaunchArgument("rate", default_value="1.0", description="replay speed factor"),
        DeclareLaunchArgument("params_file", description="node parameters (KITTI calibration)",
                              default_value=PathJoinSubstitution([share, "config", "kitti.yaml"])),
        DeclareLaunchArgument("checkpoint", default_value="", description="NLSPN checkpoint; empty: default"),
        DeclareLaunchArgument("device", default_value="auto", description="auto, cpu, cuda or cuda:N"),
        DeclareLaunchArgument("rviz", default_value="false", description="start RViz with config/nlspn.rviz"),
    ]
    node = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, "launch", "nlspn.launch.py"])),
        launch_arguments={
            "namespace": "nlspn",
            "image": "/camera/image",
            "camera_info": "/camera/camera_info",
            "points": "/lidar/points",
            "params_file": LaunchConfiguration("params_file"),
            "checkpoint": LaunchConfiguration("checkpoint"),
            "device": LaunchConfiguration("device"),
            "use_sim_time": "true",
        }.items(),
    )
    replay = ExecuteProcess(
        cmd=[PathJoinSubstitution([share, "..", "..", "lib", "nlspn_ros", "nlspn_ros"]), "replay",
             LaunchConfiguration("bag"), "--rate", LaunchConfiguration("rate"),
             "--wait-for-subscribers", "120", "--wait-topics", "/camera/image", "/camera/camera_info",
             "/lidar/points"],
        output="screen",
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        arguments=["-d", PathJoinSubstitution([share, "config", "nlspn.rviz"])],
        parameters=[{"use_sim_time": True}],
        condition=IfCondition(LaunchConfiguration("rviz")),
    )
    return LaunchDescription([*arguments, node, replay, rviz])
