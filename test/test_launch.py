"""Launch files, their plan, RViz and KITTI configuration.

Everywhere: each launch file only declares :data:`nlspn_ros.ros.launch_plan.ARGUMENTS` and turns
:func:`nlspn_ros.ros.launch_plan.plan` into actions, so the decisions (nodes, names, namespaces,
parameters, remappings, per-camera files, the replay) are checked here in plain Python: every
argument changes what is started, every override names a node parameter with its type, every
remapping a topic the node uses, every referenced file exists after the build.

Where launch_ros and ros2launch are installed (a ROS 2 Jazzy installation), every launch file is
also started as ``ros2 launch`` starts it, in its own process; this process checks node names,
namespaces, parameters, remappings and the outputs for a replayed bag, then stops it with SIGINT.
"""
from __future__ import annotations

import ast
import importlib.util
import time
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from nlspn_ros.bag.writer import CAMERA_FRAME
from nlspn_ros.cli import build_parser
from nlspn_ros.pipeline.param_files import load_parameters
from nlspn_ros.pipeline.settings import BY_NAME
from nlspn_ros.ros import launch_plan
from nlspn_ros.ros.launch_plan import ARGUMENTS, NodeLaunch, Plan, plan
from nlspn_ros.ros.outputs import OUTPUTS as NODE_OUTPUTS

from ros_util import REPO_ROOT, start_process, stop_process

LAUNCH_DIR = REPO_ROOT / "launch"
INSTALL = REPO_ROOT / "install" / "nlspn_ros"
SHARE = INSTALL / "share" / "nlspn_ros"
NODE_PARAMETERS = set(BY_NAME) | {"use_sim_time"}
LAUNCH_FILES = tuple(ARGUMENTS)


def node_topics() -> set[str]:
    """Topic names the node subscribes or publishes (relative names as written)."""
    return node_subscriptions() | {output.topic for output in NODE_OUTPUTS.values()}


def node_subscriptions() -> set[str]:
    tree = ast.parse((REPO_ROOT / "nlspn_ros" / "ros" / "node.py").read_text())
    return {c.args[1].value for c in ast.walk(tree) if isinstance(c, ast.Call)
            and isinstance(c.func, ast.Attribute) and c.func.attr == "create_subscription"
            and isinstance(c.args[1], ast.Constant)}  # not the computed `<image>/compressed`


def defaults(name: str, **values: str) -> dict[str, str]:
    """Every argument of ``name`` at its default (``bag`` has none), then ``values``."""
    given = {a.name: a.default for a in launch_plan.arguments(name, SHARE) if a.default is not None}
    return {"bag": "/data/kitti_bag", **given, **values} if name == "kitti_playback.launch.py" else {
        **given, **values}


def nlspn_nodes(started: Plan) -> list[NodeLaunch]:
    return [n for n in started.nodes if n.executable == launch_plan.NODE_EXECUTABLE]


def test_launch_files_only_turn_the_plan_into_actions():
    for name in LAUNCH_FILES:
        tree = ast.parse((LAUNCH_DIR / name).read_text())
        calls = [c for c in ast.walk(tree) if isinstance(c, ast.Call)]
        assert [ast.unparse(c) for c in calls] == [f"launch_description({name!r})"], name
        compile((LAUNCH_DIR / name).read_text(), name, "exec")
    assert sorted(p.name for p in LAUNCH_DIR.glob("*.launch.py")) == sorted(LAUNCH_FILES)


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_every_argument_changes_what_is_started(name):
    """``--show-args`` lists ARGUMENTS: none of them may be silently ignored."""
    names = [a.name for a in ARGUMENTS[name]]
    assert len(names) == len(set(names)) and all(a.description for a in ARGUMENTS[name])
    base = plan(name, defaults(name), SHARE)
    for argument in names:
        value = defaults(name)[argument]
        other = "cam_x" if argument == "cameras" else value + "x"
        changed = {"true": "false", "false": "true"}.get(value, other)
        assert plan(name, defaults(name, **{argument: changed}), SHARE) != base, f"{name}: {argument} ignored"
    with pytest.raises(ValueError, match="no value for"):
        plan(name, {}, SHARE)


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_overrides_are_typed_node_parameters_and_remappings_are_node_inputs(name):
    # multi_camera.launch.py passed the string 'false' where launch_ros wants a bool (TypeError on
    # every start): overrides carry Python types, booleans parsed from the argument strings
    for values in (defaults(name), defaults(name, use_sim_time="true", autostart="False", rviz="true")):
        values = {k: v for k, v in values.items() if k in {a.name for a in ARGUMENTS[name]}}
        for node in nlspn_nodes(plan(name, values, SHARE)):
            files = [p for p in node.parameters if isinstance(p, str)]
            (overrides,) = [p for p in node.parameters if isinstance(p, dict)]
            assert node.parameters[-1] is overrides, "overrides come after the files, so they win"
            assert set(overrides) <= NODE_PARAMETERS, set(overrides) - NODE_PARAMETERS
            for key, value in overrides.items():
                default = BY_NAME[key].default if key in BY_NAME else False
                assert type(value) is type(default), f"{name}: {key}={value!r} is not a {type(default)}"
            assert files and all(Path(f).is_absolute() for f in files)
            assert {source for source, _ in node.remappings} == node_subscriptions()
            assert node.name == launch_plan.NODE_NAME and node.namespace
    single = plan("nlspn.launch.py", defaults("nlspn.launch.py", use_sim_time="true"), SHARE)
    assert single.nodes[0].parameters[-1]["use_sim_time"] is True
    with pytest.raises(ValueError, match="use_sim_time:='maybe' is not a boolean"):
        plan("multi_camera.launch.py", defaults("multi_camera.launch.py", use_sim_time="maybe"), SHARE)


def test_multi_camera_runs_one_node_per_camera_with_its_own_files_and_topics():
    started = plan("multi_camera.launch.py", defaults(
        "multi_camera.launch.py", cameras="front, left", points="/lidar", params_file="/p/shared.yaml",
        camera_params="/p/{camera}.yaml", image_topic="/{camera}/image", use_sim_time="true"), SHARE)
    assert [n.fully_qualified_name for n in started.nodes] == ["/front/nlspn/nlspn_node",
                                                               "/left/nlspn/nlspn_node"]
    for node, camera in zip(started.nodes, ("front", "left"), strict=True):
        assert node.parameters[:2] == ("/p/shared.yaml", f"/p/{camera}.yaml")
        assert dict(node.remappings) == {"image": f"/{camera}/image", "camera_info": f"/{camera}/camera_info",
                                         "points": "/lidar"}
        assert node.parameters[2]["use_sim_time"] is True
    assert started.environment == {launch_plan.FASTDDS_VARIABLE: str(SHARE / "config" / "fastdds_shm.xml")}
    no_files = plan("multi_camera.launch.py", defaults("multi_camera.launch.py"), SHARE)
    files = [p for p in no_files.nodes[0].parameters if isinstance(p, str)]
    assert files == [str(SHARE / "config" / "nlspn.yaml")]
    for bad in ("", "front,front", "9lives", "a/b"):
        with pytest.raises(ValueError):
            plan("multi_camera.launch.py", defaults("multi_camera.launch.py", cameras=bad), SHARE)


def test_kitti_playback_replays_into_its_own_node_once_it_is_ready():
    started = plan("kitti_playback.launch.py", defaults("kitti_playback.launch.py", rate="0.5", delay="3"),
                   SHARE)
    (node,) = nlspn_nodes(started)
    assert node.fully_qualified_name == "/nlspn/nlspn_node"
    overrides = node.parameters[-1]
    assert overrides["use_sim_time"] is True  # the replay's /clock
    assert overrides["qos.input_reliability"] == "reliable"  # nothing lost in transport from the replay
    (replay,) = started.processes
    assert replay[0] == str(INSTALL / "lib" / "nlspn_ros" / "nlspn_ros")
    parsed = build_parser().parse_args(list(replay[1:]))  # the replay subcommand accepts exactly this
    assert parsed.command == "replay" and str(parsed.bag) == "/data/kitti_bag" and parsed.rate == 0.5
    assert parsed.delay == 3.0  # after the node is ready: time for a viewer to subscribe
    assert parsed.wait_for_node == node.fully_qualified_name  # not RViz, which subscribes the same topics
    assert sorted(parsed.wait_topics) == sorted(target for _, target in node.remappings)
    assert parsed.wait_for_subscribers > 60  # the node loads its model before it subscribes
    assert len(started.nodes) == 1
    with_rviz = plan("kitti_playback.launch.py", defaults("kitti_playback.launch.py", rviz="true"), SHARE)
    (rviz,) = [n for n in with_rviz.nodes if n.package == "rviz2"]
    assert rviz.arguments == ("-d", str(SHARE / "config" / "nlspn.rviz"))
    assert rviz.parameters == ({"use_sim_time": True},)


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_referenced_files_and_executables_exist_after_the_build(name):
    for argument in launch_plan.arguments(name, SHARE):
        if argument.default and argument.default.startswith(str(SHARE)):
            relative = Path(argument.default).relative_to(SHARE)
            assert (REPO_ROOT / relative).is_file(), f"{name}: {relative} missing from the source"
            assert Path(argument.default).is_file(), f"{argument.default} not installed: scripts/setup"
    started = plan(name, defaults(name, rviz="true"), SHARE) if name == "kitti_playback.launch.py" else plan(
        name, defaults(name), SHARE)
    for node in nlspn_nodes(started):
        executable = INSTALL / "lib" / node.package / node.executable
        assert executable.is_file() and executable.stat().st_mode & 0o111, f"{executable}: run scripts/setup"
    for command in started.processes:
        assert Path(command[0]).is_file() and Path(command[0]).stat().st_mode & 0o111, command[0]
    for node in started.nodes:
        assert node.package in ("nlspn_ros", "rviz2")
        for argument in node.arguments:
            assert not argument.startswith("/") or Path(argument).is_file(), argument


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
    (node,) = nlspn_nodes(plan("kitti_playback.launch.py", defaults("kitti_playback.launch.py"), SHARE))
    inputs = {target for _, target in node.remappings}
    outputs = {f"{node.namespace}/{topic}" for topic in node_topics() - node_subscriptions()}
    assert topics <= inputs | outputs, f"not published or subscribed by the node: {topics - inputs - outputs}"
    assert {"/nlspn/depth/image", "/nlspn/depth/color", "/nlspn/depth/points", "/lidar/points",
            "/camera/image"} <= topics
    assert "/nlspn/depth/camera_info" in outputs  # what DepthCloud reads beside depth/image
    displays = {d["Class"] for d in view["Visualization Manager"]["Displays"]}
    assert {"rviz_default_plugins/DepthCloud", "rviz_default_plugins/PointCloud2",
            "rviz_default_plugins/Image"} <= displays
    assert view["Visualization Manager"]["Global Options"]["Fixed Frame"] == CAMERA_FRAME


def test_kitti_config_holds_the_2011_09_26_calibration_and_node_parameters(kitti_dir):
    import numpy as np

    from nlspn_ros.geometry import load_kitti_calib
    from nlspn_ros.pipeline.param_files import settings_from_files

    settings = settings_from_files(REPO_ROOT / "config" / "kitti.yaml")
    _, t_cam_lidar = load_kitti_calib(kitti_dir / "calib" / "000001.txt", image_size=(1242, 375))
    np.testing.assert_allclose(settings.extrinsic, t_cam_lidar, atol=1e-8)
    assert settings.crop.box[2:] == (1216, 352) and settings.crop.anchor == "bottom_center"  # test_crop.py
    assert settings.publish.points and settings.publish.color  # shown in config/nlspn.rviz
    assert set(load_parameters(REPO_ROOT / "config" / "kitti.yaml")) <= NODE_PARAMETERS


# ---------------------------------------------------------------- real launches (launch_ros installed)

HAVE_ROS2_LAUNCH = all(importlib.util.find_spec(m) for m in ("launch_ros", "ros2launch", "ros2cli"))
needs_ros2_launch = pytest.mark.skipif(
    not HAVE_ROS2_LAUNCH, reason="launch_ros, ros2launch and ros2cli (`ros2 launch`) are not installable "
    "from PyPI; these tests run where ROS 2 Jazzy with launch_ros is installed")


def ros2_launch(name: str, **arguments: str):
    """``ros2 launch nlspn_ros NAME k:=v ...`` in its own process: the ros2 command's own entry point."""
    argv = ["launch", "nlspn_ros", name, *(f"{k}:={v}" for k, v in arguments.items())]
    return start_process(["-c", "import sys; from ros2cli.cli import main; sys.exit(main())", *argv])


class Probe:
    """An rclpy node in this process, in a context of its own, that looks at the launched graph."""

    def __init__(self) -> None:
        import rclpy

        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("launch_probe", context=self.context)
        self.received: dict[str, list] = {}

    def subscribe(self, topic: str, msg_type: type) -> None:
        self.received[topic] = []
        self.node.create_subscription(msg_type, topic, self.received[topic].append, 10)

    def spin_until(self, condition, timeout: float, process) -> bool:
        from rclpy.executors import SingleThreadedExecutor

        executor = SingleThreadedExecutor(context=self.context)
        executor.add_node(self.node)
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline and process.poll() is None:
            executor.spin_once(timeout_sec=0.1)
        executor.remove_node(self.node)
        return condition()

    def parameters(self, node: str, names: list[str], process) -> dict:
        from rcl_interfaces.srv import GetParameters
        from rclpy.parameter import parameter_value_to_python

        client = self.node.create_client(GetParameters, f"{node}/get_parameters")
        assert self.spin_until(lambda: client.service_is_ready(), 120, process), f"no {node}/get_parameters"
        future = client.call_async(GetParameters.Request(names=names))
        assert self.spin_until(future.done, 30, process)
        return dict(zip(names, map(parameter_value_to_python, future.result().values), strict=True))

    def subscribers(self, topic: str) -> set[str]:
        return {f"{i.node_namespace.rstrip('/')}/{i.node_name}"
                for i in self.node.get_subscriptions_info_by_topic(topic)}

    def close(self) -> None:
        self.node.destroy_node()
        self.rclpy.shutdown(context=self.context)


@pytest.fixture(scope="module")
def synthetic_bag(tmp_path_factory) -> tuple[Path, Path]:
    """A 2-frame synthetic bag and a node parameter file for it (its calibration, reliable inputs)."""
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("launch")
    bag = folder / "bag"
    made = subprocess.run([sys.executable, "-m", "nlspn_ros.cli", "make-bag", str(bag), "--synthetic", "2",
                           "--width", "96", "--height", "64"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert made.returncode == 0, made.stdout + made.stderr
    yaml = YAML()
    document = yaml.load(Path(f"{bag}.params.yaml").read_text())
    document["/**"]["ros__parameters"].update({"qos": {"input_reliability": "reliable"}, "method": "nlspn"})
    params = folder / "params.yaml"
    with params.open("w") as stream:
        yaml.dump(document, stream)
    return bag, params


def replay(bag: Path, prefix: str, node: str):
    return start_process(["-m", "nlspn_ros.cli", "replay", str(bag), "--prefix", prefix,
                          "--wait-for-subscribers", "180", "--wait-for-node", node, "--wait-topics",
                          f"{prefix}/camera/image", f"{prefix}/camera/camera_info", f"{prefix}/lidar/points"])


def stop_launch(process) -> str:
    output = stop_process(process, timeout=30)
    assert process.returncode == 0, output
    return output


@needs_ros2_launch
def test_nlspn_launch_starts_the_node_with_its_names_parameters_remappings_and_outputs(
        synthetic_bag, checkpoint):
    from sensor_msgs.msg import Image

    bag, params = synthetic_bag
    launched = ros2_launch("nlspn.launch.py", namespace="lt", image="/lt_in/camera/image",
                           camera_info="/lt_in/camera/camera_info", points="/lt_in/lidar/points",
                           params_file=str(params), checkpoint=str(checkpoint), device="cpu")
    probe = Probe()
    player = None
    try:
        probe.subscribe("/lt/depth/image", Image)
        values = probe.parameters("/lt/nlspn_node", ["checkpoint", "device", "use_sim_time", "autostart",
                                                     "qos.input_reliability"], launched)
        assert values == {"checkpoint": str(checkpoint), "device": "cpu", "use_sim_time": False,
                          "autostart": True, "qos.input_reliability": "reliable"}
        assert ("nlspn_node", "/lt") in probe.node.get_node_names_and_namespaces()
        player = replay(bag, "/lt_in", "/lt/nlspn_node")
        assert probe.spin_until(lambda: len(probe.received["/lt/depth/image"]) == 2, 180, launched)
        for topic in ("/lt_in/camera/image", "/lt_in/camera/camera_info", "/lt_in/lidar/points"):
            assert "/lt/nlspn_node" in probe.subscribers(topic)  # the remappings
        assert {m.width for m in probe.received["/lt/depth/image"]} == {96}
        assert player.wait(timeout=60) == 0  # it exits by itself once its messages are acknowledged
    finally:
        probe.close()
        replayed = stop_process(player) if player else ""
        output = stop_launch(launched)
    assert "replayed" in replayed and "process has finished cleanly" in output, output


@needs_ros2_launch
def test_multi_camera_launch_starts_one_node_per_camera_with_its_parameter_file(synthetic_bag, checkpoint,
                                                                                 tmp_path):
    from sensor_msgs.msg import Image

    bag, params = synthetic_bag
    for camera, min_depth in (("cam_a", 0.5), ("cam_b", 0.7)):
        (tmp_path / f"{camera}.yaml").write_text(f"/**:\n  ros__parameters:\n    min_depth: {min_depth}\n")
    # defaults for use_sim_time and autostart: the arguments that made every start fail
    launched = ros2_launch("multi_camera.launch.py", cameras="cam_a,cam_b", params_file=str(params),
                           camera_params=str(tmp_path / "{camera}.yaml"),
                           image_topic="/{camera}/camera/image",
                           camera_info_topic="/{camera}/camera/camera_info", points="/cam_a/lidar/points",
                           checkpoint=str(checkpoint), device="cpu")
    probe = Probe()
    player = None
    try:
        probe.subscribe("/cam_a/nlspn/depth/image", Image)
        for camera, min_depth in (("cam_a", 0.5), ("cam_b", 0.7)):
            values = probe.parameters(f"/{camera}/nlspn/nlspn_node", ["min_depth", "use_sim_time", "device"],
                                      launched)
            assert values == {"min_depth": min_depth, "use_sim_time": False, "device": "cpu"}
            assert f"/{camera}/nlspn/nlspn_node" in probe.subscribers(f"/{camera}/camera/image")
            assert f"/{camera}/nlspn/nlspn_node" in probe.subscribers("/cam_a/lidar/points")  # shared LiDAR
        player = replay(bag, "/cam_a", "/cam_a/nlspn/nlspn_node")
        assert probe.spin_until(lambda: len(probe.received["/cam_a/nlspn/depth/image"]) == 2, 180, launched)
        assert player.wait(timeout=60) == 0
    finally:
        probe.close()
        if player:
            stop_process(player)
        output = stop_launch(launched)
    assert output.count("process has finished cleanly") == 2, output


@needs_ros2_launch
def test_kitti_playback_launch_completes_every_shared_frame(kitti_dir, checkpoint, tmp_path):
    import subprocess
    import sys

    from sensor_msgs.msg import Image

    bag = tmp_path / "kitti"
    made = subprocess.run([sys.executable, "-m", "nlspn_ros.cli", "make-bag", str(bag), "--kitti",
                           str(kitti_dir)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert made.returncode == 0, made.stdout + made.stderr
    probe = Probe()
    probe.subscribe("/nlspn/depth/image", Image)
    # default params_file: config/kitti.yaml, whose crop must fit both drives' image sizes
    # delay: the node completes only what has a subscriber, and under LOCALHOST discovery it can
    # take seconds to learn of this probe (frames.no_subscribers seen here without it)
    launched = ros2_launch("kitti_playback.launch.py", bag=str(bag), checkpoint=str(checkpoint), device="cpu",
                           delay="10")
    try:
        names = ["use_sim_time", "crop.anchor", "qos.input_reliability"]
        values = probe.parameters("/nlspn/nlspn_node", names, launched)
        assert values == {"use_sim_time": True, "crop.anchor": "bottom_center",
                          "qos.input_reliability": "reliable"}
        assert probe.spin_until(lambda: len(probe.received["/nlspn/depth/image"]) == 2, 300, launched)
        assert {(m.width, m.height) for m in probe.received["/nlspn/depth/image"]} == {(1216, 352)}
        # the replay exits by itself once its messages are acknowledged
        assert probe.spin_until(lambda: "nlspn_bag_player" not in dict(
            probe.node.get_node_names_and_namespaces()), 60, launched)
    finally:
        probe.close()
        output = stop_launch(launched)
    assert "replayed" in output and "Traceback" not in output, output
