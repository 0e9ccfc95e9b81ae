"""Launch files, RViz and KITTI configuration, checked without importing launch (not installable here).

The launch files are parsed (ast): every argument must reach the node as a parameter it declares, a
remapping of a topic it uses, its namespace, its parameter file or the Fast DDS profile variable (or
be one of the few launch-only arguments, each checked for what it does); every file and executable
they reference must exist in the source tree and in the colcon install tree. The RViz view may only
show topics the node publishes or subscribes to. A real launch runs where launch_ros is installed.
"""
from __future__ import annotations

import ast
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from ruamel.yaml import YAML

from nlspn_ros.bag.params import load_parameters, settings_from_files
from nlspn_ros.bag.writer import CAMERA_FRAME
from nlspn_ros.cli import build_parser
from nlspn_ros.geometry import load_kitti_calib
from nlspn_ros.node_settings import BY_NAME
from nlspn_ros.ros.node import OUTPUTS as NODE_OUTPUTS

from ros_util import REPO_ROOT

LAUNCH_DIR = REPO_ROOT / "launch"
INSTALL = REPO_ROOT / "install" / "nlspn_ros"
SHARE = INSTALL / "share" / "nlspn_ros"
NODE_PARAMETERS = set(BY_NAME) | {"use_sim_time"}
LAUNCH_FILES = ("nlspn.launch.py", "multi_camera.launch.py", "kitti_playback.launch.py")
# Arguments that configure the launch itself, not the node: checked by the tests below.
LAUNCH_ONLY = {"multi_camera.launch.py": {"cameras"}, "kitti_playback.launch.py": {"bag", "rate", "rviz"}}


def node_topics() -> set[str]:
    """Topic names the node subscribes or publishes (relative names as written)."""
    tree = ast.parse((REPO_ROOT / "nlspn_ros" / "ros" / "node.py").read_text())
    topics = set()
    for call in ast.walk(tree):
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and call.func.attr in ("create_subscription", "create_publisher")
                and isinstance(call.args[1], ast.Constant)):
            topics.add(call.args[1].value)
    return topics | {topic for topic, _ in NODE_OUTPUTS.values()}  # publishers made from the table


def node_subscriptions() -> set[str]:
    tree = ast.parse((REPO_ROOT / "nlspn_ros" / "ros" / "node.py").read_text())
    return {c.args[1].value for c in ast.walk(tree) if isinstance(c, ast.Call)
            and isinstance(c.func, ast.Attribute) and c.func.attr == "create_subscription"
            and isinstance(c.args[1], ast.Constant)}  # not the computed `<image>/compressed`


class LaunchFile:
    def __init__(self, name: str) -> None:
        self.name = name
        self.tree = ast.parse((LAUNCH_DIR / name).read_text())
        self.parents = {child: node for node in ast.walk(self.tree) for child in ast.iter_child_nodes(node)}

    def calls(self, name: str) -> list[ast.Call]:
        def called(call: ast.Call) -> str:
            return call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")
        return [n for n in ast.walk(self.tree) if isinstance(n, ast.Call) and called(n) == name]

    def declared(self) -> list[str]:
        return [c.args[0].value for c in self.calls("DeclareLaunchArgument")]

    def uses(self) -> list[tuple[str, ast.AST]]:
        """(argument, its call) for LaunchConfiguration("x") and the OpaqueFunction helper value("x")."""
        return [(c.args[0].value, c) for name in ("LaunchConfiguration", "value") for c in self.calls(name)
                if c.args and isinstance(c.args[0], ast.Constant)]

    def role(self, use: ast.AST) -> str:
        """Where an argument's value goes: the first enclosing construct that gives it a meaning."""
        child, node = use, self.parents.get(use)
        while node is not None:
            if isinstance(node, ast.If) and node.test is child:
                return "guard"  # `if value("x"):` only decides whether its other use happens
            if isinstance(node, ast.Dict):
                key = node.keys[node.values.index(child)] if child in node.values else None
                if isinstance(key, ast.Constant):
                    return f"key:{key.value}"
            if isinstance(node, ast.Tuple) and len(node.elts) == 2 and node.elts[1] is child:
                first = node.elts[0]
                return f"remap:{first.value}" if isinstance(first, ast.Constant) else "tuple"
            if isinstance(node, ast.keyword) and node.arg in ("namespace", "condition", "cmd"):
                return node.arg
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "SetEnvironmentVariable":
                return f"env:{node.args[0].value}"
            if isinstance(node, ast.keyword) and node.arg == "parameters":
                return "params_file"
            appended = isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "append"
            if appended and getattr(node.func.value, "id", "") == "parameters":
                return "params_file"  # parameters.append(<file>)
            targets = [getattr(t, "id", "") for t in getattr(node, "targets", [])]
            if isinstance(node, ast.Assign) and targets == ["parameters"]:
                return "params_file"  # parameters = [<file>]
            child, node = node, self.parents.get(node)
        return "unknown"

    def share_paths(self) -> list[tuple[str, ...]]:
        """Path parts joined onto FindPackageShare('nlspn_ros') in PathJoinSubstitution([...])."""
        paths = []
        for call in self.calls("PathJoinSubstitution"):
            parts = call.args[0].elts
            if isinstance(parts[0], ast.Name) and parts[0].id == "share":
                paths.append(tuple(p.value for p in parts[1:]))
        return paths


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_every_launch_argument_reaches_the_node(name):
    launch = LaunchFile(name)
    declared = launch.declared()
    assert len(declared) == len(set(declared)), f"{name}: an argument is declared twice"
    used = {arg for arg, _ in launch.uses()}
    assert set(declared) == used, f"{name}: unused {set(declared) - used}, undeclared {used - set(declared)}"
    topics = node_topics()
    nlspn_arguments = set(LaunchFile("nlspn.launch.py").declared())
    for arg, use in launch.uses():
        role = launch.role(use)
        if arg in LAUNCH_ONLY.get(name, ()):
            continue
        if role.startswith("key:"):
            key = role[4:]
            include = name == "kitti_playback.launch.py"  # its dict is nlspn.launch.py's launch_arguments
            allowed = nlspn_arguments if include else NODE_PARAMETERS
            assert key in allowed, f"{name}: {arg} sets {key!r}, which is not a node parameter / argument"
        elif role.startswith("remap:"):
            assert role[6:] in topics, f"{name}: {arg} remaps {role[6:]!r}, which the node does not use"
        else:
            assert role in ("namespace", "params_file", "env:FASTRTPS_DEFAULT_PROFILES_FILE", "guard"), (
                f"{name}: argument {arg} is used as {role}")


def test_launch_only_arguments_do_what_they_say():
    multi = LaunchFile("multi_camera.launch.py")
    assert any(isinstance(n, ast.For) for n in ast.walk(multi.tree)), "one node per camera: a loop"
    namespaces = [k.value for c in multi.calls("Node") for k in c.keywords if k.arg == "namespace"]
    assert len(namespaces) == 1 and isinstance(namespaces[0], ast.JoinedStr)  # f"{camera}/nlspn"
    playback = LaunchFile("kitti_playback.launch.py")
    (process,) = playback.calls("ExecuteProcess")
    cmd = next(k.value for k in process.keywords if k.arg == "cmd")
    args = [e.value if isinstance(e, ast.Constant) else "1.0" for e in cmd.elts[1:]]
    parsed = build_parser().parse_args(args)  # the replay subcommand accepts exactly this command line
    assert parsed.command == "replay" and parsed.wait_topics == ["/camera/image", "/camera/camera_info",
                                                                 "/lidar/points"]
    (rviz,) = [c for c in playback.calls("Node") if any(k.arg == "condition" for k in c.keywords)]
    assert {k.arg: getattr(k.value, "value", None) for k in rviz.keywords}["executable"] == "rviz2"


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_referenced_files_and_executables_exist_after_the_build(name):
    launch = LaunchFile(name)
    for parts in launch.share_paths():
        if parts[:2] == ("..", ".."):  # <prefix>/lib/nlspn_ros/<executable>
            target = INSTALL.joinpath(*parts[2:])
            assert target.is_file() and target.stat().st_mode & 0o111, f"{name}: no executable {target}"
            continue
        assert (REPO_ROOT.joinpath(*parts)).is_file(), f"{name}: {'/'.join(parts)} missing from the source"
        assert SHARE.joinpath(*parts).is_file(), (
            f"{name}: {SHARE.joinpath(*parts)} not installed: run scripts/setup (colcon build)")
    for node in launch.calls("Node"):
        keywords = {k.arg: getattr(k.value, "value", None) for k in node.keywords}
        if keywords["package"] == "nlspn_ros":
            executable = INSTALL / "lib" / "nlspn_ros" / keywords["executable"]
            assert executable.is_file(), f"{name}: {executable} not installed: run scripts/setup"
        else:
            assert keywords["package"] == "rviz2", f"{name}: unexpected package {keywords['package']}"


def rviz_topics() -> tuple[set[str], dict]:
    view = YAML(typ="safe").load((REPO_ROOT / "config" / "nlspn.rviz").read_text())
    topics = set()
    for display in view["Visualization Manager"]["Displays"]:
        if isinstance(display.get("Topic"), dict):
            topics.add(display["Topic"]["Value"])
        topics.update(display[k] for k in ("Depth Map Topic", "Color Image Topic") if k in display)
    return topics, view


def test_rviz_shows_only_topics_of_the_node_in_the_playback_setup():
    topics, view = rviz_topics()
    playback = LaunchFile("kitti_playback.launch.py")
    (include,) = playback.calls("IncludeLaunchDescription")
    arguments = next(k.value for k in include.keywords if k.arg == "launch_arguments").func.value
    values = {k.value: v.value for k, v in zip(arguments.keys, arguments.values, strict=True)
              if isinstance(v, ast.Constant)}
    inputs = {values[name] for name in node_subscriptions()}
    outputs = {f"/{values['namespace']}/{topic}" for topic in node_topics() - node_subscriptions()}
    assert topics <= inputs | outputs, f"not published or subscribed by the node: {topics - inputs - outputs}"
    assert {"/nlspn/depth/image", "/nlspn/depth/color", "/nlspn/depth/points", "/lidar/points",
            "/camera/image"} <= topics
    assert "/nlspn/depth/camera_info" in outputs  # what DepthCloud reads beside depth/image
    displays = {d["Class"] for d in view["Visualization Manager"]["Displays"]}
    assert {"rviz_default_plugins/DepthCloud", "rviz_default_plugins/PointCloud2",
            "rviz_default_plugins/Image"} <= displays
    assert view["Visualization Manager"]["Global Options"]["Fixed Frame"] == CAMERA_FRAME


def test_kitti_config_is_valid_and_holds_the_2011_09_26_calibration(kitti_dir):
    settings = settings_from_files(REPO_ROOT / "config" / "kitti.yaml")
    _, t_cam_lidar = load_kitti_calib(kitti_dir / "calib" / "000001.txt", image_size=(1242, 375))
    np.testing.assert_allclose(settings.t_cam_lidar, t_cam_lidar, atol=1e-8)
    assert settings.crop == (13, 23, 1216, 352)
    assert settings["publish.points"] and settings["publish.color"]  # shown in config/nlspn.rviz
    assert set(load_parameters(REPO_ROOT / "config" / "kitti.yaml")) <= NODE_PARAMETERS


def test_real_launch_starts_the_node(tmp_path):
    pytest.importorskip("launch_ros", reason="launch_ros is not installable from PyPI (no ROS 2 distribution "
                        "here); this test runs where ROS 2 Jazzy with launch_ros is installed")
    import rclpy
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    import launch

    service = launch.LaunchService()
    service.include_launch_description(IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(SHARE / "launch" / "nlspn.launch.py")),
        launch_arguments={"namespace": "launch_test", "device": "cpu"}.items()))
    runner = threading.Thread(target=service.run, daemon=True)
    runner.start()
    rclpy.init()
    node = rclpy.create_node("launch_probe")
    try:
        deadline = time.monotonic() + 60
        while node.count_publishers("/launch_test/depth/image") == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert node.count_publishers("/launch_test/depth/image") == 1
        assert node.count_subscribers("/camera/image_rect") == 1
    finally:
        node.destroy_node()
        rclpy.shutdown()
        service.shutdown()
        runner.join(timeout=20)


def test_launch_files_compile():
    for name in LAUNCH_FILES:
        compile((LAUNCH_DIR / name).read_text(), name, "exec")
    assert Path(LAUNCH_DIR / "nlspn.launch.py").read_text().count("DeclareLaunchArgument(") == 10
