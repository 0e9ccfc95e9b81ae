"""Where the node's extrinsic comes from (parameters or TF): the ROS-free decisions.

The tf2_ros lookup itself is exercised in test_node_tf.py where tf2_ros is installed.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from geometry_msgs.msg import Quaternion, Transform, Vector3

from nlspn_ros.bag.writer import tf_message
from nlspn_ros.geometry import transform_from_rpy
from nlspn_ros.pipeline import extrinsic_source as source
from nlspn_ros.pipeline.frame import BadInput
from nlspn_ros.pipeline.settings import NodeSettings

T_CAM_LIDAR = transform_from_rpy([0.1, -0.2, 0.3], -np.pi / 2, 0.0, -np.pi / 2)  # x forward -> z forward
STAMP = SimpleNamespace(sec=1_700_000_000, nanosec=250_000_000)


def message(frame_id: str, stamp=STAMP) -> SimpleNamespace:
    return SimpleNamespace(header=SimpleNamespace(frame_id=frame_id, stamp=stamp))


class RecordingLookup:
    """A lookup that answers with ``T_CAM_LIDAR`` and records what it was asked."""

    def __init__(self) -> None:
        self.requests: list = []

    def __call__(self, request: source.TransformRequest, timeout_s: float) -> np.ndarray:
        self.requests.append((request, timeout_s))
        return T_CAM_LIDAR


def test_parameters_win_over_tf() -> None:
    for values in (
        {"t_cam_lidar": T_CAM_LIDAR.ravel().tolist()},
        {"t_cam_lidar_xyz": [0.0, 0.0, 0.0], "t_cam_lidar_rpy": [0.0, 0.0, 0.0]},  # identity, but set
        {"t_cam_lidar_quaternion_xyzw": [0.0, 0.0, 0.0, 1.0]},
    ):
        settings = NodeSettings.defaults().changed(values)
        assert settings.extrinsic_from_parameters
        lookup = RecordingLookup()
        result = source.extrinsic_for(settings, message("camera"), message("velodyne"), lookup)
        np.testing.assert_array_equal(result, settings.extrinsic)
        assert lookup.requests == []  # TF is not asked
        unchanged = source.extrinsic_for(settings, message("camera"), message("velodyne"), None)
        assert unchanged is settings.extrinsic
    assert not NodeSettings.defaults().extrinsic_from_parameters


def test_tf_is_asked_for_cloud_frame_to_image_frame_at_the_image_stamp() -> None:
    settings = NodeSettings.defaults().changed({"tf_timeout": 0.2})
    lookup = RecordingLookup()
    cloud = message("/velodyne", SimpleNamespace(sec=1_700_000_000, nanosec=290_000_000))  # ROS 1 style '/'
    result = source.extrinsic_for(settings, message("camera_optical_frame"), cloud, lookup)
    np.testing.assert_array_equal(result, T_CAM_LIDAR)
    ((request, timeout),) = lookup.requests
    assert request == source.TransformRequest("camera_optical_frame", "velodyne", 1_700_000_000_250_000_000)
    assert timeout == 0.2


def test_a_cloud_in_the_image_frame_needs_no_transform() -> None:
    settings = NodeSettings.defaults()
    for image_frame, cloud_frame in (("camera", "camera"), ("/camera", "camera"), ("", "")):
        result = source.extrinsic_for(settings, message(image_frame), message(cloud_frame), None)
        np.testing.assert_array_equal(result, np.eye(4))


def test_without_tf2_and_parameters_a_foreign_cloud_is_bad_input_naming_both_remedies() -> None:
    with pytest.raises(BadInput) as error:
        source.extrinsic_for(NodeSettings.defaults(), message("camera"), message("velodyne"), None)
    assert error.value.kind == "no_extrinsic"
    assert "'velodyne'" in str(error.value) and "'camera'" in str(error.value)
    assert "set t_cam_lidar" in str(error.value) and "install tf2_ros" in str(error.value)


def test_an_empty_frame_id_cannot_be_looked_up() -> None:
    with pytest.raises(BadInput, match="the cloud has no frame_id") as error:
        source.extrinsic_for(NodeSettings.defaults(), message("camera"), message(""), RecordingLookup())
    assert error.value.kind == "tf_missing"


def test_failed_lookups_are_counted_by_kind_with_a_clear_message() -> None:
    request = source.TransformRequest("camera", "velodyne", 2_500_000_000)
    detail = '"velodyne" passed to lookupTransform argument source_frame does not exist'
    missing = source.lookup_failed(source.TF_MISSING, request, detail)
    assert missing.kind == "tf_missing"
    assert str(missing).startswith("tf_missing: no transform 'velodyne' -> 'camera' at 2.500 s in TF")
    detail = "Lookup would require extrapolation into the future"
    too_old = source.lookup_failed(source.TF_TOO_OLD, request, detail)
    assert too_old.kind == "tf_too_old" and "at the image's stamp" in str(too_old)
    assert "set t_cam_lidar" in str(too_old)


def test_configure_notice_is_one_line_only_when_no_extrinsic_can_be_known() -> None:
    settings = NodeSettings.defaults()
    notice = source.configure_notice(settings, tf_available=False)
    assert notice is not None and "\n" not in notice
    assert "set t_cam_lidar" in notice and "install tf2_ros" in notice and "bad_input.no_extrinsic" in notice
    assert source.configure_notice(settings, tf_available=True) is None
    with_parameters = settings.changed({"t_cam_lidar": np.eye(4).ravel().tolist()})
    assert source.configure_notice(with_parameters, tf_available=False) is None


def test_a_tf_transform_becomes_the_matrix_make_bag_wrote() -> None:
    """make-bag's /tf_static (parent = camera, child = LiDAR) is what lookup_transform(camera, LiDAR)
    returns; its Transform gives back T_cam_lidar, for rclpy and rosbags messages alike."""
    stamped = tf_message([(T_CAM_LIDAR, "camera_optical_frame", "velodyne")], 0).transforms[0]
    np.testing.assert_allclose(source.matrix_from_transform(stamped.transform), T_CAM_LIDAR, atol=1e-12)
    t, q = stamped.transform.translation, stamped.transform.rotation
    rclpy_transform = Transform(
        translation=Vector3(x=t.x, y=t.y, z=t.z), rotation=Quaternion(x=q.x, y=q.y, z=q.z, w=q.w)
    )
    np.testing.assert_allclose(source.matrix_from_transform(rclpy_transform), T_CAM_LIDAR, atol=1e-12)
    with pytest.raises(BadInput, match="invalid transform"):
        source.matrix_from_transform(Transform(rotation=Quaternion(x=0.0, y=0.0, z=0.0, w=0.0)))
