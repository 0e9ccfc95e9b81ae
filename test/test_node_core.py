"""The node's ROS-free parts: parameter table and settings, the per-frame pipeline, the mailbox."""

from __future__ import annotations

import dataclasses
import threading
import time
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from ruamel.yaml import YAML

from nlspn_ros.completion.factory import apply_runtime_settings, build_completer, check_settings
from nlspn_ros.completion.ip_basic import IPBasicCompleter
from nlspn_ros.geometry import CameraModel
from nlspn_ros.paths import REPO_ROOT
from nlspn_ros.pipeline import frame as frames
from nlspn_ros.pipeline.conversions import cloud_fields, image_fields
from nlspn_ros.pipeline.mailbox import LatestMailbox
from nlspn_ros.pipeline.settings import PARAMETERS, VALIDATORS, NodeSettings

CAMERA = CameraModel.pinhole(40, 30, fx=30.0, fy=30.0, cx=19.5, cy=14.5)


def flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def test_config_file_matches_the_parameter_table() -> None:
    """config/nlspn.yaml lists every parameter with its default and its type (ROS keeps the type)."""
    tree = YAML(typ="safe").load((REPO_ROOT / "config" / "nlspn.yaml").read_text())
    values = flatten(tree["/**"]["ros__parameters"])
    assert values == {p.name: p.default for p in PARAMETERS}
    for p in PARAMETERS:
        assert type(values[p.name]) is type(p.default), p.name
    NodeSettings.from_values(values)


def test_settings_reject_with_reasons_and_stay_immutable() -> None:
    settings = NodeSettings.defaults()
    with pytest.raises(ValueError, match=r"min_depth \(5.0\) must be < max_depth \(2.0\)"):
        settings.changed({"min_depth": 5.0, "max_depth": 2.0})
    with pytest.raises(ValueError, match="confidence_threshold must be in"):
        settings.changed({"confidence_threshold": 1.5})
    with pytest.raises(ValueError, match="method must be one of"):
        settings.changed({"method": "magic"})
    with pytest.raises(ValueError, match="device must be"):
        settings.changed({"device": "tpu"})
    with pytest.raises(ValueError, match="one form only"):
        settings.changed({"t_cam_lidar": np.eye(4).ravel().tolist(), "t_cam_lidar_rpy": [0.0, 0.0, 1.0]})
    with pytest.raises(ValueError, match="rotation"):
        settings.changed({"t_cam_lidar": [2.0] + [0.0] * 14 + [1.0]})
    with pytest.raises(ValueError, match="unknown parameters"):
        settings.changed({"nope": 1})
    with pytest.raises(ValueError, match="model_config"):
        settings.changed({"model_config": "{legacy"})
    assert settings.min_depth == 0.1  # unchanged by the refused updates
    with pytest.raises(ValueError):
        settings.extrinsic[0, 0] = 2.0


def test_settings_are_typed_attributes_of_the_one_table() -> None:
    """Every parameter is an attribute path of its dotted name (``sync.slop`` is ``settings.sync.slop``),
    changes arrive by name, and a misspelt attribute fails where it is written, not on the worker."""
    settings = NodeSettings.defaults().changed({"sync.slop": 0.08, "publish.points": True, "crop.width": 64})
    values = settings.as_values()
    assert list(values) == [p.name for p in PARAMETERS]
    for name, value in values.items():
        node = settings
        for part in name.split("."):
            node = getattr(node, part)
        assert node == value, name
    assert settings.sync.slop == 0.08 and settings.publish.points and settings.crop.box == (0, 0, 64, 0)
    assert NodeSettings.from_values(values) == settings
    assert settings.t_cam_lidar == (0.0,)  # list parameters are held as tuples: settings stay immutable
    with pytest.raises(AttributeError):
        settings.sync.slope  # noqa: B018 - the typo a string key used to hide until the worker ran
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.sync.slop = 0.2  # type: ignore[misc]


def test_every_way_of_building_settings_validates() -> None:
    """Direct construction and ``dataclasses.replace`` run the same checks as parameter changes: each
    named cross-field rule, and the per-parameter ranges."""
    assert [v.__name__ for v in VALIDATORS] == ["crop_anchor_keeps_origin", "depth_range_is_ordered",
                                                 "device_is_known"]
    base = NodeSettings()
    with pytest.raises(ValueError, match="leave crop.x and crop.y 0"):
        dataclasses.replace(base, crop=dataclasses.replace(base.crop, anchor="bottom_center", x=3))
    with pytest.raises(ValueError, match="must be < max_depth"):
        dataclasses.replace(base, min_depth=5.0, max_depth=2.0)
    with pytest.raises(ValueError, match="device must be"):
        NodeSettings(device="gpu")
    with pytest.raises(ValueError, match="sync.queue_size must be in"):
        dataclasses.replace(base, sync=dataclasses.replace(base.sync, queue_size=0))
    with pytest.raises(ValueError, match="missing parameters"):
        NodeSettings.from_values({"method": "nlspn"})


def test_an_empty_extrinsic_is_not_set() -> None:
    """``[]`` means "not set", exactly like the declared default ``[0.0]`` (leaving it out)."""
    base = NodeSettings.defaults()
    for name in ("t_cam_lidar", "t_cam_lidar_xyz", "t_cam_lidar_quaternion_xyzw", "t_cam_lidar_rpy"):
        np.testing.assert_array_equal(base.changed({name: []}).extrinsic, base.extrinsic)
    rpy = base.changed({"t_cam_lidar_rpy": [0.0, 0.0, 1.0]})
    both = rpy.changed({"t_cam_lidar": []})  # not a second form
    np.testing.assert_array_equal(both.extrinsic, rpy.extrinsic)


def test_the_three_extrinsic_forms_agree() -> None:
    base = NodeSettings.defaults()
    matrix = base.changed({"t_cam_lidar": [0.0, -1.0, 0.0, 0.1, 0.0, 0.0, -1.0, 0.2, 1.0, 0.0, 0.0, 0.3]})
    quaternion = base.changed(
        {"t_cam_lidar_xyz": [0.1, 0.2, 0.3], "t_cam_lidar_quaternion_xyzw": [0.5, -0.5, 0.5, 0.5]}
    )
    rpy = base.changed({"t_cam_lidar_xyz": [0.1, 0.2, 0.3], "t_cam_lidar_rpy": [np.pi / 2, -np.pi / 2, 0.0]})
    np.testing.assert_allclose(quaternion.extrinsic, matrix.extrinsic, atol=1e-12)
    np.testing.assert_allclose(rpy.extrinsic, matrix.extrinsic, atol=1e-12)


def message(fields: dict, frame_id: str, **extra):
    """A rosbags-like message object: plain attributes (the pipeline is duck-typed)."""
    return SimpleNamespace(header=SimpleNamespace(frame_id=frame_id), **fields, **extra)


def frame_messages(depth: float = 4.0, encoding: str = "rgb8", cloud_frame: str = "lidar"):
    rgb = np.full((CAMERA.height, CAMERA.width, 3), 100, np.uint8)
    image = message(image_fields(rgb, "rgb8"), "cam")
    image.encoding = encoding
    info_fields = CAMERA.to_camera_info_fields()
    info_fields["roi"] = SimpleNamespace(**info_fields["roi"])
    info = message(info_fields, "cam")
    v, u = np.mgrid[0 : CAMERA.height : 3, 0 : CAMERA.width : 3].reshape(2, -1)
    xyz = np.stack(
        [(u - CAMERA.cx) / CAMERA.fx * depth, (v - CAMERA.cy) / CAMERA.fy * depth, np.full(u.shape, depth)], 1
    ).astype(np.float32)
    fields = cloud_fields(xyz)
    fields["fields"] = [SimpleNamespace(**f) for f in fields["fields"]]
    return image, info, message(fields, cloud_frame)


def test_pipeline_with_crop_scale_and_masking() -> None:
    settings = NodeSettings.defaults().changed(
        {"crop.x": 4, "crop.width": 32, "scale": 0.5, "max_depth": 50.0}
    )
    result = frames.process_frame(*frame_messages(), settings, IPBasicCompleter(max_depth=50.0))
    assert result.depth.shape == (15, 16) and result.camera.width == 16 and result.camera.height == 15
    assert result.confidence is None
    valid = np.isfinite(result.depth)
    assert valid.mean() > 0.5
    np.testing.assert_allclose(result.depth[valid], 4.0, atol=1e-3)
    assert result.projection.pixels > 0
    assert set(result.timings_ms) >= {"convert", "project", "infer", "mask", "model"}
    closer = settings.changed({"max_depth": 3.0})  # the plane at 4 m is beyond: no points at all
    with pytest.raises(frames.BadInput) as err:
        frames.process_frame(*frame_messages(), closer, IPBasicCompleter())
    assert err.value.kind == "no_points_in_image"


def test_mask_depth_applies_range_and_confidence() -> None:
    settings = NodeSettings.defaults().changed(
        {"min_depth": 1.0, "max_depth": 10.0, "confidence_threshold": 0.5}
    )
    depth = np.array([[0.5, 2.0, 20.0, 5.0]], np.float32)
    confidence = np.array([[0.9, 0.9, 0.9, 0.4]], np.float32)
    out = frames.mask_depth(depth, confidence, settings)
    np.testing.assert_array_equal(np.isnan(out), [[True, False, True, True]])
    assert out[0, 1] == 2.0 and depth[0, 0] == 0.5  # input untouched
    # every valid value kept bit for bit, NaN/negative/inf inputs invalid, any memory layout
    rng = np.random.default_rng(0)
    depth = rng.uniform(-5.0, 15.0, (40, 30)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.1] = np.nan
    depth[0, :3] = [np.inf, -np.inf, -0.0]
    confidence = rng.random(depth.shape).astype(np.float32)
    for d, c in ((depth, confidence), (depth.T, confidence.T), (depth[::2, ::3], confidence[::2, ::3])):
        out = frames.mask_depth(d, c, settings)
        valid = (d >= 1.0) & (d <= 10.0) & (c >= 0.5)
        np.testing.assert_array_equal(np.isnan(out), ~valid)
        np.testing.assert_array_equal(out[valid], d[valid])


@pytest.mark.parametrize(
    ("kind", "build", "settings"),
    [
        ("image", lambda: frame_messages(encoding="yuv422"), {}),
        ("cloud_frame", lambda: frame_messages(cloud_frame="radar"), {"lidar_frame": "lidar"}),
        ("image_frame", lambda: frame_messages(), {"camera_frame": "other_cam"}),
        ("crop", lambda: frame_messages(), {"crop.x": 30, "crop.width": 20}),
    ],
)
def test_bad_input_kinds(kind, build, settings) -> None:
    with pytest.raises(frames.BadInput) as err:
        frames.process_frame(*build(), NodeSettings.defaults().changed(settings), IPBasicCompleter())
    assert err.value.kind == kind


def test_derived_outputs() -> None:
    depth = np.array([[1.0, np.nan], [70.0, 2.5]], np.float32)
    np.testing.assert_array_equal(frames.depth_to_millimetres(depth), [[1000, 0], [0, 2500]])
    edges = np.array(
        [np.nan, np.inf, -np.inf, -1.0, 0.0004, 0.0006, 1.2341, 1.2346, 65.5349, 65.5355, 66.0], np.float32
    )
    np.testing.assert_array_equal(
        frames.depth_to_millimetres(edges[None]), [[0, 0, 0, 0, 0, 1, 1234, 1235, 65535, 0, 0]]
    )
    colours = frames.colorize_depth(depth, 0.1, 100.0)
    assert colours.shape == (2, 2, 3) and colours.dtype == np.uint8
    assert colours[0, 1].tolist() == [0, 0, 0] and colours[0, 0].any()
    # turbo levels (RGB order) 255 (min_depth and nearer) .. 1 (max_depth and farther); NaN, -inf black
    turbo = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], cv2.COLORMAP_TURBO)[:, 0, ::-1]
    depths = np.array([[np.nan, -np.inf, -3.0, 2.0, 6.0, 10.0, 51.0, 100.0, 100.5, np.inf]], np.float32)
    levels = np.array([0, 0, 255, 255, 245, 234, 128, 1, 1, 1])  # 255 - 254 * (d - 2) / 98, rounded
    expected = turbo[levels] * (levels > 0)[:, None]
    np.testing.assert_array_equal(frames.colorize_depth(depths, 2.0, 100.0)[0], expected)
    camera = CameraModel.pinhole(2, 2, fx=1.0, fy=1.0, cx=0.0, cy=0.0)
    rgb = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    xyz, colour = frames.depth_to_points(depth, rgb, camera, stride=1)
    np.testing.assert_allclose(xyz, [[0, 0, 1], [0, 70, 70], [2.5, 2.5, 2.5]])
    np.testing.assert_array_equal(colour, rgb.reshape(4, 3)[[0, 2, 3]])
    # decimated, on a non-square camera: every 2nd pixel of every 2nd row, NaNs skipped
    camera = CameraModel.pinhole(7, 5, fx=2.0, fy=4.0, cx=3.0, cy=2.0)
    depth = np.arange(1, 36, dtype=np.float32).reshape(5, 7)
    depth[2, 4] = depth[4, 0] = np.nan
    rgb = np.arange(105, dtype=np.uint8).reshape(5, 7, 3)
    expected = [
        ((u - 3.0) * depth[v, u] / 2.0, (v - 2.0) * depth[v, u] / 4.0, depth[v, u], *rgb[v, u])
        for v in range(0, 5, 2) for u in range(0, 7, 2) if np.isfinite(depth[v, u])
    ]
    xyz, colour = frames.depth_to_points(depth, rgb, camera, stride=2)
    np.testing.assert_allclose(np.hstack([xyz, colour]), expected, rtol=1e-6)


def test_mailbox_is_latest_wins_without_backlog() -> None:
    box: LatestMailbox[int] = LatestMailbox()
    taken = []

    def slow_consumer() -> None:
        while (item := box.get(timeout=1.0)) is not None:
            taken.append(item)
            time.sleep(0.02)

    consumer = threading.Thread(target=slow_consumer)
    consumer.start()
    replaced = sum(box.put(i) is not None for i in range(200))
    time.sleep(0.1)
    assert box.close() is None  # the consumer has taken the newest by now
    consumer.join(timeout=5)
    assert taken[-1] == 199  # the newest is always delivered
    assert len(taken) + replaced == 200  # every item either taken or reported as replaced
    assert replaced > 150
    assert box.get(timeout=0.01) is None
    # closing drops (and returns) what waits: a stopping consumer starts nothing new
    box = LatestMailbox()
    box.put(1)
    assert box.close() == 1 and box.get() is None


def test_docs_list_every_parameter() -> None:
    text = (REPO_ROOT / "docs" / "node.md").read_text()
    missing = [p.name for p in PARAMETERS if f"| `{p.name}` |" not in text]
    assert not missing, f"docs/node.md lacks parameters {missing}"


def test_raw_images_project_with_the_distortion() -> None:
    image, info, cloud = frame_messages()
    info.d = [-0.3, 0.1, 0.0, 0.0, 0.0]
    rectified = frames.prepare_inputs(image, info, cloud, NodeSettings.defaults())
    raw = frames.prepare_inputs(
        image, info, cloud, NodeSettings.defaults().changed({"image_rectified": False})
    )
    assert rectified[1].rectified and not raw[1].rectified
    settings = NodeSettings.defaults()
    sparse_rect = frames.project(rectified[2], rectified[1], settings).depth
    sparse_raw = frames.project(raw[2], raw[1], settings).depth
    assert (sparse_rect > 0).sum() > 0 and (sparse_raw > 0).sum() > 0
    assert not np.array_equal(sparse_rect > 0, sparse_raw > 0)  # barrel distortion moves the points


# Runtime parameters the node applies itself, outside the frame pipeline (pairing at the next
# message, publishing at the next frame): checked live in test_node.
NODE_LEVEL = {"sync.slop", "sync.queue_size", "sync.max_wait", "tf_timeout", "publish.depth_raw",
              "publish.sparse_depth", "publish.color", "publish.points", "points_decimation"}
# changes the frame only together with a crop size: covered by test_crop.py
WITH_CROP_SIZE = {"crop.anchor"}
# a changed value for every other runtime parameter; each must change the frame's result
RUNTIME_CHANGES = {
    "prop_time": 0,
    "confidence_threshold": 1.0,
    "min_depth": 5.0,
    "max_depth": 300.0,
    "crop.x": 4,
    "crop.y": 3,
    "crop.width": 30,
    "crop.height": 20,
    "scale": 0.5,
    "t_cam_lidar": [1.0, 0.0, 0.0, 0.5, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
    "t_cam_lidar_xyz": [0.5, 0.0, 0.0],  # alone: refused (needs a rotation)
    "t_cam_lidar_quaternion_xyzw": [0.0, 0.0, 0.0998334, 0.9950042],
    "t_cam_lidar_rpy": [0.0, 0.0, 0.2],
    "image_rectified": False,
    "camera_frame": "other_cam",
    "lidar_frame": "radar",
}


def deep_frame():
    """frame_messages with depths from 2 to 150 m across the image (beyond the default max_depth on
    the right) and a distorted raw camera (so that image_rectified matters)."""
    image, info, _ = frame_messages()
    info.d = [-0.2, 0.05, 0.0, 0.0, 0.0]
    v, u = np.mgrid[0 : CAMERA.height : 2, 0 : CAMERA.width : 2].reshape(2, -1)
    depth = 2.0 + 148.0 * u / (CAMERA.width - 1)
    xyz = np.stack([(u - CAMERA.cx) / CAMERA.fx * depth, (v - CAMERA.cy) / CAMERA.fy * depth, depth], 1)
    fields = cloud_fields(xyz.astype(np.float32))
    fields["fields"] = [SimpleNamespace(**f) for f in fields["fields"]]
    return image, info, message(fields, "lidar")


def outcome(completer, settings, default_prop_time):
    """What the node's per-frame step gives: the result, or the BadInput kind."""
    apply_runtime_settings(completer, settings, default_prop_time)
    try:
        return frames.process_frame(*deep_frame(), settings, completer)
    except frames.BadInput as exc:
        return exc.kind


def same(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return (a.camera == b.camera and np.array_equal(a.sparse, b.sparse)
            and np.allclose(a.depth, b.depth, atol=1e-5, equal_nan=True))


@pytest.mark.parametrize("method", ["nlspn", "ip_basic"])
def test_every_runtime_parameter_applies_at_the_next_frame_or_is_refused(method, checkpoint) -> None:
    """A runtime change gives the frame a completer built with the new value would give (the
    completer keeps nothing from its construction), changes the result, or is refused with a reason."""
    runtime = {p.name for p in PARAMETERS if not p.read_only}
    classified = NODE_LEVEL | WITH_CROP_SIZE | set(RUNTIME_CHANGES)
    assert runtime == classified, "classify the new runtime parameter here"
    start = NodeSettings.defaults().changed(
        {"method": method, "checkpoint": str(checkpoint), "device": "cpu"}
    )
    completer = build_completer(start)
    default_prop_time = completer.prop_time
    before = outcome(completer, start, default_prop_time)
    assert not isinstance(before, str), before
    for name, value in RUNTIME_CHANGES.items():
        try:
            changed = start.changed({name: value})
            check_settings(completer, changed)
        except ValueError as exc:
            assert name in str(exc) or name.startswith("t_cam_lidar"), (name, exc)
            continue
        got = outcome(completer, changed, default_prop_time)
        fresh = build_completer(changed)
        assert same(got, outcome(fresh, changed, getattr(fresh, "prop_time", None))), name
        assert not same(got, before), f"{name} = {value!r} changed nothing for {method}"
        outcome(completer, start, default_prop_time)  # back to the start values for the next one


def test_ip_basic_follows_a_runtime_max_depth() -> None:
    """Points at 150 m, max_depth raised from 100 to 300 at runtime: completed, not all NaN."""
    start = NodeSettings.defaults().changed({"method": "ip_basic"})
    completer = build_completer(start)
    image, info, _ = frame_messages()
    far = frame_messages(depth=150.0)[2]
    changed = start.changed({"max_depth": 300.0})
    apply_runtime_settings(completer, changed, None)
    result = frames.process_frame(image, info, far, changed, completer)
    assert np.isfinite(result.depth).mean() > 0.5
    np.testing.assert_allclose(result.depth[np.isfinite(result.depth)], 150.0, rtol=1e-3)


def settings_accesses(source: str) -> list[tuple[int, list[str]]]:
    """(line, attribute path) of every read of node settings in ``source``: a chain after a name or an
    attribute called ``s``, ``settings`` or ``_settings`` (``s.sync.slop`` -> ``["sync", "slop"]``)."""
    import ast

    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute) or isinstance(getattr(node, "_parent", None), ast.Attribute):
            continue
        path, base = [], node
        while isinstance(base, ast.Attribute):
            path.insert(0, base.attr)
            for child in ast.iter_child_nodes(base):
                child._parent = base
            base = base.value
        names = ([base.id] if isinstance(base, ast.Name) else []) + path
        for index, name in enumerate(names[:-1]):
            if name in ("s", "settings", "_settings"):
                found.append((node.lineno, names[index + 1:]))
                break
    return found


def unknown_settings(source: str) -> list[str]:
    """The settings reads of ``source`` that NodeSettings does not have (what a type checker says)."""
    unknown = []
    for line, path in settings_accesses(source):
        target = NodeSettings.defaults()
        for part in path:
            if not hasattr(target, part):
                unknown.append(f"line {line}: settings.{'.'.join(path)}")
                break
            target = getattr(target, part)
            if callable(target) or not dataclasses.is_dataclass(target):
                break
    return unknown


def test_every_settings_read_in_the_package_exists():
    """The code that reads node settings names only attributes NodeSettings has: a misspelt parameter
    fails here, not as frames.failed on the node's worker thread. The check itself catches one."""
    assert unknown_settings("def f(s):\n    return s.sync.slope + s.min_depth\n") == [
        "line 2: settings.sync.slope"]
    readers = [p for p in (REPO_ROOT / "nlspn_ros").rglob("*.py") if "NodeSettings" in p.read_text()]
    assert len(readers) >= 6
    reads = {str(p.relative_to(REPO_ROOT)): settings_accesses(p.read_text()) for p in readers}
    assert sum(map(len, reads.values())) > 40  # the scan sees the reads
    problems = {name: unknown_settings(p.read_text()) for name, p in
                ((str(p.relative_to(REPO_ROOT)), p) for p in readers)}
    assert not any(problems.values()), problems
