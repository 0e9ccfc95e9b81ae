"""One nlspn_node per camera, all fed by the same LiDAR, each under its own namespace.

    ros2 launch nlspn_ros multi_camera.launch.py cameras:=front,left,right points:=/velodyne_points \
        camera_params:=/path/to/extrinsics/{camera}.yaml

For camera ``C`` the node runs in namespace ``C/nlspn`` (outputs ``/C/nlspn/depth/image`` ...) and reads
``image_topic`` / ``camera_info_topic`` with ``{camera}`` replaced by ``C``. ``params_file`` holds the
settings all cameras share; ``camera_params`` (``{camera}`` replaced) holds each camera's own
extrinsic ``t_cam_lidar`` and crop, and wins over ``params_file``. ``checkpoint``, ``device``,
``use_sim_time`` and ``fastdds_profile`` are those of nlspn.launch.py.
"""
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchContext, LaunchDescription


def camera_nodes(context: LaunchContext) -> list[Node]:
    def value(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    cameras = [c.strip() for c in value("cameras").replace("[", "").replace("]", "").split(",") if c.strip()]
    if not cameras:
        raise ValueError("cameras:= needs at least one camera name (comma separated)")
    nodes = []
    for camera in cameras:
        parameters = [value("params_file")]
        if value("camera_params"):
            parameters.append(value("camera_params").replace("{camera}", camera))
        parameters.append({
            "checkpoint": ParameterValue(value("checkpoint"), value_type=str),
            "device": ParameterValue(value("device"), value_type=str),
            "use_sim_time": ParameterValue(value("use_sim_time"), value_type=bool),
        })
        nodes.append(Node(
            package="nlspn_ros",
            executable="nlspn_node",
            name="nlspn_node",
            namespace=f"{camera}/nlspn",
            parameters=parameters,
            remappings=[
                ("image", value("image_topic").replace("{camera}", camera)),
                ("camera_info", value("camera_info_topic").replace("{camera}", camera)),
                ("points", value("points")),
            ],
            output="screen",
            emulate_tty=True,
        ))
    return nodes


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("nlspn_ros")
    arguments = [
        DeclareLaunchArgument("cameras", default_value="front", description="camera names, comma separated"),
        DeclareLaunchArgument("image_topic", default_value="/{camera}/image_rect", description="per camera"),
        DeclareLaunchArgument("camera_info_topic", default_value="/{camera}/camera_info",
                              description="per camera"),
        DeclareLaunchArgument("points", default_value="/velodyne_points", description="LiDAR PointCloud2"),
        DeclareLaunchArgument("params_file", description="settings shared by all cameras",
                              default_value=PathJoinSubstitution([share, "config", "nlspn.yaml"])),
        DeclareLaunchArgument("camera_params", default_value="",
                              description="per-camera parameter file, {camera} replaced; empty: none"),
        DeclareLaunchArgument("checkpoint", default_value="", description="NLSPN checkpoint; empty: default"),
        DeclareLaunchArgument("device", default_value="auto", description="auto, cpu, cuda or cuda:N"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock (replay)"),
        DeclareLaunchArgument("fastdds_profile", description="Fast DDS XML profile",
                              default_value=PathJoinSubstitution([share, "config", "fastdds_shm.xml"])),
    ]
    profile = SetEnvironmentVariable("FASTRTPS_DEFAULT_PROFILES_FILE", LaunchConfiguration("fastdds_profile"))
    return LaunchDescription([*arguments, profile, OpaqueFunction(function=camera_nodes)])
