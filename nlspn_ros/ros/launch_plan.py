"""What each launch file in launch/ starts, decided in plain Python (no launch import, tested everywhere).

A launch file declares the :data:`ARGUMENTS` of its name and, once ``ros2 launch`` knows their
values, asks :func:`plan` what to start: the nodes (package, executable, name, namespace, parameter
files then overrides, remappings), the environment and the commands run beside them (the replay).
:mod:`nlspn_ros.ros.launch_actions` only turns that :class:`Plan` into launch actions, the same way
for every file. Everything here is a decision the suite checks without launch_ros; the launch
files themselves are one line each.

Values arrive as the strings ``ros2 launch`` passes; booleans are parsed here (``true``/``false``,
as YAML writes them) and every parameter override carries its Python type, so the launch layer
never guesses a type from a string.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nlspn_ros.bag.make import BagTopicNames

PACKAGE = "nlspn_ros"
NODE_EXECUTABLE = "nlspn_node"
NODE_NAME = "nlspn_node"
CLI_EXECUTABLE = "nlspn_ros"  # the installed `nlspn_ros` command (replay, record, ...)
FASTDDS_VARIABLE = "FASTRTPS_DEFAULT_PROFILES_FILE"
CAMERA_PLACEHOLDER = "{camera}"
SHARE_PLACEHOLDER = "{share}"
# How long the playback's replay waits for the node to be ready (model loaded, inputs subscribed).
PLAYBACK_WAIT_S = 300.0

ParameterValue = bool | int | float | str
Parameters = tuple[str | dict[str, ParameterValue], ...]


@dataclass(frozen=True)
class Argument:
    """A launch argument: ``default`` None = required; ``{share}`` in it = the package's share folder."""

    name: str
    default: str | None
    description: str


@dataclass(frozen=True)
class NodeLaunch:
    """One node to start. ``parameters``: files, then a dict of overrides (later entries win)."""

    name: str
    namespace: str
    parameters: Parameters
    remappings: tuple[tuple[str, str], ...]
    package: str = PACKAGE
    executable: str = NODE_EXECUTABLE
    arguments: tuple[str, ...] = ()

    @property
    def fully_qualified_name(self) -> str:
        return "/".join(("", *filter(None, self.namespace.strip("/").split("/")), self.name))


@dataclass(frozen=True)
class Plan:
    nodes: tuple[NodeLaunch, ...]
    environment: dict[str, str] = field(default_factory=dict)
    processes: tuple[tuple[str, ...], ...] = ()  # commands started beside the nodes


_NODE_ARGUMENTS = (
    Argument("params_file", f"{SHARE_PLACEHOLDER}/config/nlspn.yaml", "node parameter file"),
    Argument("checkpoint", "", "NLSPN checkpoint; empty: the embedded default model"),
    Argument("device", "auto", "auto, cpu, cuda or cuda:N"),
    Argument("use_sim_time", "false", "true: the node's clock follows /clock (bag replay)"),
    Argument("autostart", "true", "configure + activate at start (false: wait for a lifecycle manager)"),
    Argument("fastdds_profile", f"{SHARE_PLACEHOLDER}/config/fastdds_shm.xml",
             f"Fast DDS XML profile ({FASTDDS_VARIABLE}): shared memory for full-size images"),
)

ARGUMENTS: dict[str, tuple[Argument, ...]] = {
    "nlspn.launch.py": (
        Argument("namespace", "nlspn", "namespace of the node and its outputs (<namespace>/depth/image ...)"),
        Argument("image", "/camera/image_rect", "colour image topic (remaps the input image)"),
        Argument("camera_info", "/camera/camera_info", "its CameraInfo topic (remaps camera_info)"),
        Argument("points", "/velodyne_points", "LiDAR PointCloud2 topic (remaps points)"),
        *_NODE_ARGUMENTS,
    ),
    "multi_camera.launch.py": (
        Argument("cameras", "front", "camera names, comma separated: one node per camera in <camera>/nlspn"),
        Argument("image_topic", f"/{CAMERA_PLACEHOLDER}/image_rect", "image topic per camera"),
        Argument("camera_info_topic", f"/{CAMERA_PLACEHOLDER}/camera_info", "CameraInfo topic per camera"),
        Argument("points", "/velodyne_points", "LiDAR PointCloud2 topic shared by all cameras"),
        Argument("camera_params", "",
                 f"per-camera parameter file ({CAMERA_PLACEHOLDER} replaced), read after params_file; "
                 "empty: none"),
        *_NODE_ARGUMENTS,
    ),
    "kitti_playback.launch.py": (
        Argument("bag", None, "rosbag2 to replay (directory, .mcap or .db3), e.g. from make-bag --kitti"),
        Argument("rate", "1.0", "replay speed factor"),
        Argument("delay", "0.0", "seconds the replay waits after the node subscribed, so that a viewer "
                 "(RViz, rviz:=true) subscribed to the outputs before the first frame: the node completes "
                 "nothing nobody subscribed"),
        Argument("params_file", f"{SHARE_PLACEHOLDER}/config/kitti.yaml",
                 "node parameters (KITTI calibration, crop); <bag>.params.yaml from make-bag is exact"),
        Argument("checkpoint", "", "NLSPN checkpoint; empty: the embedded default model"),
        Argument("device", "auto", "auto, cpu, cuda or cuda:N"),
        Argument("rviz", "false", "true: start RViz with config/nlspn.rviz"),
        Argument("fastdds_profile", f"{SHARE_PLACEHOLDER}/config/fastdds_shm.xml",
                 f"Fast DDS XML profile ({FASTDDS_VARIABLE})"),
    ),
}


def arguments(launch_file: str, share: str | Path) -> list[Argument]:
    """The arguments of ``launch_file`` with ``{share}`` in the defaults replaced by ``share``."""
    return [Argument(a.name, None if a.default is None else a.default.replace(SHARE_PLACEHOLDER, str(share)),
                     a.description) for a in ARGUMENTS[launch_file]]


def parse_bool(text: str, name: str) -> bool:
    """``true``/``false`` (any case, as ``ros2 launch`` and YAML write them) -> bool."""
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{name}:={text!r} is not a boolean (true or false)")


def parse_cameras(text: str) -> list[str]:
    """``front,left`` (or ``[front, left]``) -> camera names; each becomes a namespace."""
    cameras = [c.strip() for c in text.strip().strip("[]").split(",") if c.strip()]
    if not cameras:
        raise ValueError("cameras:= needs at least one camera name (comma separated)")
    for camera in cameras:
        if not camera.replace("_", "").isalnum() or camera[0].isdigit():
            raise ValueError(f"camera name {camera!r} is not a valid ROS namespace token "
                             "(letters, digits, underscores; not starting with a digit)")
    if len(set(cameras)) != len(cameras):
        raise ValueError(f"cameras:= names a camera twice: {text}")
    return cameras


def _node_overrides(values: Mapping[str, str]) -> dict[str, ParameterValue]:
    """Overrides passed after the parameter files, so these arguments win over the files."""
    return {
        "checkpoint": values["checkpoint"],
        "device": values["device"],
        "use_sim_time": parse_bool(values["use_sim_time"], "use_sim_time"),
        "autostart": parse_bool(values["autostart"], "autostart"),
    }


def _environment(values: Mapping[str, str]) -> dict[str, str]:
    return {FASTDDS_VARIABLE: values["fastdds_profile"]} if values["fastdds_profile"] else {}


def single_camera(values: Mapping[str, str], share: str | Path) -> Plan:
    node = NodeLaunch(
        name=NODE_NAME,
        namespace=values["namespace"],
        parameters=(values["params_file"], _node_overrides(values)),
        remappings=(("image", values["image"]), ("camera_info", values["camera_info"]),
                    ("points", values["points"])),
    )
    return Plan((node,), _environment(values))


def multi_camera(values: Mapping[str, str], share: str | Path) -> Plan:
    nodes = []
    for camera in parse_cameras(values["cameras"]):
        files = [values["params_file"]]
        if values["camera_params"]:
            files.append(values["camera_params"].replace(CAMERA_PLACEHOLDER, camera))
        nodes.append(NodeLaunch(
            name=NODE_NAME,
            namespace=f"/{camera}/nlspn",
            parameters=(*files, _node_overrides(values)),
            remappings=(("image", values["image_topic"].replace(CAMERA_PLACEHOLDER, camera)),
                        ("camera_info", values["camera_info_topic"].replace(CAMERA_PLACEHOLDER, camera)),
                        ("points", values["points"])),
        ))
    return Plan(tuple(nodes), _environment(values))


def kitti_playback(values: Mapping[str, str], share: str | Path) -> Plan:
    """The node on make-bag's topic names with sim time, the replay of ``bag``, RViz on request.

    The replay publishes reliably and starts only once this node itself (not RViz or another
    subscriber of the same topics) has subscribed every input: the node subscribes when it is
    active, after its model loaded. Its inputs are made reliable here, so no frame of the bag is
    lost in transport (a best-effort reader drops what arrives before it matched the replay).
    """
    topics = BagTopicNames()
    node = NodeLaunch(
        name=NODE_NAME,
        namespace="/nlspn",
        parameters=(values["params_file"], {
            "checkpoint": values["checkpoint"],
            "device": values["device"],
            "use_sim_time": True,  # the node's clock follows the replay's /clock
            "qos.input_reliability": "reliable",
        }),
        remappings=(("image", topics.image), ("camera_info", topics.camera_info), ("points", topics.points)),
    )
    nodes = [node]
    if parse_bool(values["rviz"], "rviz"):
        nodes.append(NodeLaunch(name="rviz2", namespace="", package="rviz2", executable="rviz2",
                                parameters=({"use_sim_time": True},), remappings=(),
                                arguments=("-d", str(Path(share) / "config" / "nlspn.rviz"))))
    replay = (
        str(Path(share).parent.parent / "lib" / PACKAGE / CLI_EXECUTABLE), "replay", values["bag"],
        "--rate", values["rate"], "--delay", values["delay"],
        "--wait-for-subscribers", f"{PLAYBACK_WAIT_S:g}", "--wait-for-node", node.fully_qualified_name,
        "--wait-topics", topics.image, topics.camera_info, topics.points,
    )
    return Plan(tuple(nodes), _environment(values), (replay,))


PLANS: dict[str, Callable[[Mapping[str, str], str | Path], Plan]] = {
    "nlspn.launch.py": single_camera,
    "multi_camera.launch.py": multi_camera,
    "kitti_playback.launch.py": kitti_playback,
}


def plan(launch_file: str, values: Mapping[str, str], share: str | Path) -> Plan:
    """What ``launch_file`` starts for argument ``values`` (each declared argument, as a string)."""
    missing = sorted({a.name for a in ARGUMENTS[launch_file]} - set(values))
    if missing:
        raise ValueError(f"{launch_file}: no value for {missing}")
    return PLANS[launch_file](values, share)
