"""Start nlspn_node on one camera + LiDAR.

    ros2 launch nlspn_ros nlspn.launch.py image:=/camera/image_rect camera_info:=/camera/camera_info \
        points:=/velodyne_points params_file:=/path/to/my_robot.yaml

Arguments map onto the node: ``image``, ``camera_info``, ``points`` remap its inputs; ``params_file``
is its parameter file (calibration, ranges, QoS); ``checkpoint``, ``device`` and ``use_sim_time`` set
the parameters of the same name (they win over the file); ``autostart:=false`` leaves the
(lifecycle) node unconfigured for a lifecycle manager; ``namespace`` prefixes every output
(``<namespace>/depth/image`` ...); ``fastdds_profile`` selects the Fast DDS XML profile (shared-memory
segment large enough for full-size depth images) through FASTRTPS_DEFAULT_PROFILES_FILE.
"""
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("nlspn_ros")
    arguments = [
        DeclareLaunchArgument("namespace", default_value="nlspn", description="namespace of the outputs"),
        DeclareLaunchArgument("image", default_value="/camera/image_rect", description="colour image"),
        DeclareLaunchArgument("camera_info", default_value="/camera/camera_info", description="its info"),
        DeclareLaunchArgument("points", default_value="/velodyne_points", description="LiDAR PointCloud2"),
        DeclareLaunchArgument("params_file", description="node parameter file",
                              default_value=PathJoinSubstitution([share, "config", "nlspn.yaml"])),
        DeclareLaunchArgument("checkpoint", default_value="", description="NLSPN checkpoint; empty: default"),
        DeclareLaunchArgument("device", default_value="auto", description="auto, cpu, cuda or cuda:N"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock (replay)"),
        DeclareLaunchArgument("autostart", default_value="true",
                              description="configure + activate at start (false: lifecycle manager)"),
        DeclareLaunchArgument("fastdds_profile", description="Fast DDS XML profile",
                              default_value=PathJoinSubstitution([share, "config", "fastdds_shm.xml"])),
    ]
    node = Node(
        package="nlspn_ros",
        executable="nlspn_node",
        name="nlspn_node",
        namespace=LaunchConfiguration("namespace"),
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "checkpoint": ParameterValue(LaunchConfiguration("checkpoint"), value_type=str),
                "device": ParameterValue(LaunchConfiguration("device"), value_type=str),
                "use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool),
                "autostart": ParameterValue(LaunchConfiguration("autostart"), value_type=bool),
            },
        ],
        remappings=[
            ("image", LaunchConfiguration("image")),
            ("camera_info", LaunchConfiguration("camera_info")),
            ("points", LaunchConfiguration("points")),
        ],
        output="screen",
        emulate_tty=True,
    )
    profile = SetEnvironmentVariable("FASTRTPS_DEFAULT_PROFILES_FILE", LaunchConfiguration("fastdds_profile"))
    return LaunchDescription([*arguments, profile, node])
