"""CameraModel from CameraInfo (rclpy and rosbags messages), crop/scale, validation; extrinsics."""
from __future__ import annotations

import math
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from nlspn_ros.geometry import (
    CalibrationError,
    CameraModel,
    invert_transform,
    project_points,
    transform_from_matrix,
    transform_from_quaternion,
    transform_from_rpy,
)

K = [500.0, 0.0, 319.5, 0.0, 505.0, 239.5, 0.0, 0.0, 1.0]
P = [480.0, 0.0, 321.0, 0.0, 0.0, 490.0, 241.0, 0.0, 0.0, 0.0, 1.0, 0.0]
R = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
D = [-0.2, 0.05, 0.001, 0.002, 0.0]


def info_fields(**changes):
    fields = dict(width=640, height=480, distortion_model="plumb_bob", d=D, k=K, r=R, p=P,
                  binning_x=0, binning_y=0,
                  roi=SimpleNamespace(x_offset=0, y_offset=0, width=0, height=0, do_rectify=False))
    fields.update(changes)
    return fields


def rclpy_info(**changes):
    from sensor_msgs.msg import CameraInfo, RegionOfInterest

    fields = info_fields(**changes)
    fields["roi"] = RegionOfInterest(**vars(fields["roi"]))
    return CameraInfo(**fields)


def rosbags_info(**changes):
    typestore = get_typestore(Stores.ROS2_JAZZY)
    types = typestore.types
    fields = info_fields(**changes)
    header = types["std_msgs/msg/Header"](stamp=types["builtin_interfaces/msg/Time"](sec=0, nanosec=0),
                                          frame_id="camera")
    return types["sensor_msgs/msg/CameraInfo"](
        header=header, **{**fields, "roi": types["sensor_msgs/msg/RegionOfInterest"](**vars(fields["roi"])),
                          "d": np.array(fields["d"], float), "k": np.array(fields["k"], float),
                          "r": np.array(fields["r"], float), "p": np.array(fields["p"], float)})


@pytest.mark.parametrize("make", [rclpy_info, rosbags_info, lambda: SimpleNamespace(**info_fields())])
def test_from_camera_info_message_types(make):
    camera = CameraModel.from_camera_info(make())
    assert (camera.width, camera.height) == (640, 480)
    assert (camera.fx, camera.fy, camera.cx, camera.cy) == (480.0, 490.0, 321.0, 241.0)  # rectified: P
    raw = CameraModel.from_camera_info(make(), rectified=False)
    assert (raw.fx, raw.fy, raw.cx, raw.cy) == (500.0, 505.0, 319.5, 239.5)  # raw: K
    np.testing.assert_array_equal(raw.d, D)


def test_binning_and_roi_follow_image_geometry():
    roi = SimpleNamespace(x_offset=100, y_offset=40, width=400, height=300, do_rectify=False)
    camera = CameraModel.from_camera_info(SimpleNamespace(**info_fields(binning_x=2, binning_y=2, roi=roi)))
    assert (camera.width, camera.height) == (200, 150)
    assert camera.fx == 240.0 and camera.cx == (321.0 - 100) / 2 and camera.cy == (241.0 - 40) / 2
    raw = CameraModel.from_camera_info(SimpleNamespace(**info_fields(binning_x=2, binning_y=2, roi=roi)),
                                       rectified=False)
    assert raw.k[0, 0] == 250.0 and raw.k[0, 2] == (319.5 - 100) / 2
    camera.check_image_size(200, 150)
    with pytest.raises(CalibrationError, match="image is 640x480 but .* 200x150"):
        camera.check_image_size(640, 480)


def test_cropped_and_scaled_keep_points_on_the_same_image_content():
    camera = CameraModel.from_camera_info(SimpleNamespace(**info_fields()))
    point = np.array([[0.3, -0.2, 4.0]], np.float32)
    (row, col), = np.argwhere(project_points(point, np.eye(4), camera).depth)
    cropped = camera.cropped(10, 20, 600, 400)
    assert (cropped.width, cropped.height) == (600, 400)
    assert np.argwhere(project_points(point, np.eye(4), cropped).depth).tolist() == [[row - 20, col - 10]]
    # Scaling: u' = (u + 0.5) * s - 0.5, size rounds.
    half = camera.scaled(0.5)
    assert (half.width, half.height) == (320, 240)
    assert half.cx == (321.0 + 0.5) * 0.5 - 0.5 and half.fx == 240.0
    stretched = camera.scaled((2.0, 0.5))
    assert (stretched.width, stretched.height) == (1280, 240) and stretched.fy == 245.0
    with pytest.raises(CalibrationError, match="does not fit"):
        camera.cropped(600, 0, 100, 10)
    with pytest.raises(CalibrationError, match="positive"):
        camera.scaled(0)


def test_camera_info_fields_round_trip_through_rclpy():
    from sensor_msgs.msg import CameraInfo, RegionOfInterest

    roi = SimpleNamespace(x_offset=100, y_offset=40, width=400, height=300, do_rectify=False)
    camera = CameraModel.from_camera_info(rclpy_info(binning_x=2, binning_y=2, roi=roi)).scaled(0.5)
    fields = camera.to_camera_info_fields()
    assert set(fields) == set(CameraInfo.get_fields_and_field_types()) - {"header"}
    assert all(type(v) is float for v in fields["k"] + fields["p"] + fields["r"] + fields["d"])
    message = CameraInfo(**{**fields, "roi": RegionOfInterest(**fields["roi"])})
    again = CameraModel.from_camera_info(message)
    np.testing.assert_allclose(again.p, camera.p)
    assert (again.width, again.height) == (camera.width, camera.height) == (100, 75)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(p=[0.0] * 12), "non-positive focal length"),
        (dict(p=[-480.0] + P[1:]), "non-positive focal length"),
        (dict(p=[math.nan] + P[1:]), "NaN"),
        (dict(p=P[:9]), "12 values"),
        (dict(k=K[:6]), "9 values"),
        (dict(width=0), "no image size"),
        (dict(r=[0.0] * 9), "rotation"),
        (dict(roi=SimpleNamespace(x_offset=600, y_offset=0, width=100, height=10, do_rectify=False)), "ROI"),
    ],
)
def test_bad_camera_info_is_rejected_with_one_clear_error(changes, message):
    with pytest.raises(CalibrationError, match=message):
        CameraModel.from_camera_info(SimpleNamespace(**info_fields(**changes)))
    assert issubclass(CalibrationError, ValueError)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(distortion_model="kannala_brandt"), "unknown distortion_model"),
        (dict(d=[0.1, 0.2]), "needs"),
        (dict(distortion_model="rational_polynomial", d=[0.1] * 9), "needs"),
        (dict(d=[math.inf, 0.0, 0.0, 0.0, 0.0]), "NaN or Inf"),
        (dict(d=[1e300, 0.0, 0.0, 0.0, 0.0]), "absurd"),
        (dict(k=[1e300] + K[1:]), "absurd"),
    ],
)
def test_raw_images_refuse_a_distortion_they_cannot_project_with(changes, message):
    with pytest.raises(CalibrationError, match=message):
        CameraModel.from_camera_info(SimpleNamespace(**info_fields(**changes)), rectified=False)


@pytest.mark.parametrize(
    "model, d",
    [
        ("rational_polynomial", [0.01] * 14),
        ("rational_polynomial", [0.01] * 12),
        ("rational_polynomial", [0.01] * 8),
        ("fisheye", [0.01] * 4),
        ("equidistant", [0.01] * 4),
        ("", [0.01] * 5),
        ("plumb_bob", [0.01] * 4),
        ("kannala_brandt", [0.1, 0.2]),
        ("plumb_bob", [math.nan] * 5),
    ],
)
def test_rectified_images_accept_any_distortion_they_do_not_use(model, d):
    """A rectified image is projected with P and R only; D and its model are not looked at."""
    info = SimpleNamespace(**info_fields(distortion_model=model, d=d))
    camera = CameraModel.from_camera_info(info)
    reference = CameraModel.from_camera_info(SimpleNamespace(**info_fields(d=[0.0] * 5)))
    points = np.array([[1.0, 0.5, 4.0], [-2.0, 1.0, 9.0]], np.float32)
    np.testing.assert_array_equal(
        project_points(points, np.eye(4), camera).depth, project_points(points, np.eye(4), reference).depth
    )
    if all(math.isfinite(x) for x in d) and model != "kannala_brandt":  # and raw images project with it
        raw = CameraModel.from_camera_info(info, rectified=False)
        assert project_points(points, np.eye(4), raw).stats.pixels == 2


def test_absurd_calibration_is_refused_without_numpy_warnings():
    """fx = 1e300 used to overflow (a RuntimeWarning on stderr) when cast to float32 for projection."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for p in ([1e300] + P[1:], [1e-300] + P[1:], P[:3] + [1e300] + P[4:]):
            with pytest.raises(CalibrationError, match="absurd"):
                CameraModel.from_camera_info(SimpleNamespace(**info_fields(p=p)))


def test_raw_mode_checks_k_not_p():
    raw = CameraModel.from_camera_info(SimpleNamespace(**info_fields(p=[0.0] * 12)), rectified=False)
    assert raw.fx == 500.0
    with pytest.raises(CalibrationError, match="K has a non-positive focal length"):
        CameraModel.from_camera_info(SimpleNamespace(**info_fields(k=[0.0] * 9)), rectified=False)
    with pytest.raises(CalibrationError, match="not a CameraInfo"):
        CameraModel.from_camera_info(SimpleNamespace(width=640))


def test_raw_equidistant_camera_projects_with_fisheye_model():
    k = [300.0, 0.0, 319.5, 0.0, 300.0, 239.5, 0.0, 0.0, 1.0]
    fields = info_fields(k=k, distortion_model="equidistant", d=[0.1, 0.0, 0.0, 0.0])
    fisheye = CameraModel.from_camera_info(SimpleNamespace(**fields), rectified=False)
    # theta = atan(r); theta_d = theta (1 + k1 theta^2); u = fx * theta_d * x / r + cx.
    x, z = 1.0, 2.0
    theta = math.atan(x / z)
    u = 300.0 * theta * (1 + 0.1 * theta**2) + 319.5
    depth = project_points(np.array([[x, 0.0, z]], np.float32), np.eye(4), fisheye).depth
    assert np.argwhere(depth).tolist() == [[math.floor(239.5 + 0.5), math.floor(u + 0.5)]]


# ---------------------------------------------------------------- extrinsics
def test_quaternion_is_ros_order_and_matches_rpy():
    # 90 degrees about z: ROS (x, y, z, w) = (0, 0, sin 45, cos 45).
    s = math.sqrt(0.5)
    t = transform_from_quaternion([1.0, 2.0, 3.0], [0.0, 0.0, s, s])
    np.testing.assert_allclose(t[:3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(t[:3, 3], [1, 2, 3])
    np.testing.assert_allclose(transform_from_rpy([1.0, 2.0, 3.0], 0.0, 0.0, math.pi / 2), t, atol=1e-12)
    # roll then pitch then yaw about fixed axes: R = Rz(yaw) Ry(pitch) Rx(roll)
    roll, pitch, yaw = 0.1, -0.4, 0.7
    rx = [[1, 0, 0], [0, math.cos(roll), -math.sin(roll)], [0, math.sin(roll), math.cos(roll)]]
    ry = [[math.cos(pitch), 0, math.sin(pitch)], [0, 1, 0], [-math.sin(pitch), 0, math.cos(pitch)]]
    rz = [[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]]
    expected = np.array(rz) @ np.array(ry) @ np.array(rx)
    np.testing.assert_allclose(transform_from_rpy([0, 0, 0], roll, pitch, yaw)[:3, :3], expected, atol=1e-12)


def test_matrix_validation_and_inverse():
    t = transform_from_rpy([0.5, -1.0, 2.0], 0.3, 0.2, -0.1)
    np.testing.assert_allclose(transform_from_matrix(t[:3]), t)
    np.testing.assert_allclose(invert_transform(t) @ t, np.eye(4), atol=1e-12)
    with pytest.raises(CalibrationError, match="4x4 or 3x4"):
        transform_from_matrix(np.eye(3))
    with pytest.raises(CalibrationError, match="not a rotation"):
        transform_from_matrix(np.diag([2.0, 1.0, 1.0, 1.0]))
    with pytest.raises(CalibrationError, match="quaternion"):
        transform_from_quaternion([0, 0, 0], [0, 0, 0, 0])
    with pytest.raises(CalibrationError, match="translation"):
        transform_from_rpy([0, 0], 0, 0, 0)


def test_direct_construction_validates_sizes_and_scale_arguments():
    camera = CameraModel.pinhole(64, 48.0, 50.0, 50.0, 31.5, 23.5)  # integral float accepted
    assert camera.height == 48 and isinstance(camera.height, int)
    for bad in (0, -3, 12.5, math.nan, True, "64", 2**31 - 1):
        with pytest.raises(CalibrationError, match=r"must be an integer in \[1, 100000\]"):
            CameraModel.pinhole(bad, 48, 50.0, 50.0, 31.5, 23.5)
    with pytest.raises(CalibrationError, match="one factor or"):
        camera.scaled((1.0, 2.0, 3.0))
    with pytest.raises(CalibrationError, match="positive"):
        camera.scaled((1.0, math.inf))
    with pytest.raises(CalibrationError, match="must be an integer in"):
        camera.scaled(0.001)  # 0 x 0 pixels


def test_equality_and_hash_compare_the_calibration():
    a = CameraModel.from_camera_info(SimpleNamespace(**info_fields()))
    b = CameraModel.from_camera_info(rclpy_info())
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != a.cropped(0, 0, 320, 240) and a != CameraModel.from_camera_info(rclpy_info(), rectified=False)
    with pytest.raises(ValueError, match="read-only"):
        a.k[0, 0] = 1.0  # matrices are frozen with the model
