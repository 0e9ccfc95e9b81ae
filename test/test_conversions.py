"""Message <-> numpy conversions on rclpy messages and on rosbags' message dataclasses."""

from __future__ import annotations

import array

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import CompressedImage, Image, PointCloud2, PointField

from nlspn_ros.pipeline import conversions as conv
from nlspn_ros.pipeline.conversions import MessageFormatError

TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
BagImage = TYPESTORE.types["sensor_msgs/msg/Image"]
BagCloud = TYPESTORE.types["sensor_msgs/msg/PointCloud2"]
BagPointField = TYPESTORE.types["sensor_msgs/msg/PointField"]
BagHeader = TYPESTORE.types["std_msgs/msg/Header"]
BagTime = TYPESTORE.types["builtin_interfaces/msg/Time"]
BagCompressedImage = TYPESTORE.types["sensor_msgs/msg/CompressedImage"]


def padded_image(pixels: np.ndarray, encoding: str, pad: int = 0, bigendian: bool = False) -> Image:
    """An rclpy Image whose rows carry ``pad`` junk bytes after the pixels."""
    height, width = pixels.shape[:2]
    dtype = pixels.dtype.newbyteorder(">" if bigendian else "<")
    rows = np.ascontiguousarray(pixels, dtype=dtype).reshape(height, -1).view(np.uint8)
    junk = np.full((height, pad), 0xAB, np.uint8)
    data = np.concatenate([rows, junk], axis=1)
    return Image(
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(bigendian),
        step=rows.shape[1] + pad,
        data=array.array("B", data.tobytes()),
    )


def test_rgb_encodings_with_row_padding() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    alpha = np.full((5, 7, 1), 9, np.uint8)
    cases = {
        "rgb8": rgb,
        "bgr8": rgb[..., ::-1],
        "rgba8": np.concatenate([rgb, alpha], 2),
        "bgra8": np.concatenate([rgb[..., ::-1], alpha], 2),
    }
    for encoding, pixels in cases.items():
        out = conv.image_to_rgb(padded_image(pixels, encoding, pad=3))
        assert out.shape == (5, 7, 3) and out.dtype == np.uint8
        np.testing.assert_array_equal(out, rgb, err_msg=encoding)
    mono = rgb[..., 0]
    out = conv.image_to_rgb(padded_image(mono, "mono8", pad=1))
    np.testing.assert_array_equal(out, np.repeat(mono[..., None], 3, axis=2))


def test_image_view_is_zero_copy() -> None:
    msg = padded_image(np.zeros((4, 6, 3), np.uint8), "rgb8", pad=2)
    view = conv.image_to_rgb(msg)
    assert np.shares_memory(view, np.frombuffer(msg.data, np.uint8))


@pytest.mark.parametrize("bigendian", [False, True])
def test_depth_encodings_and_endianness(bigendian: bool) -> None:
    metres = np.array([[0.5, np.nan, 2.0], [80.0, 1e-3, 7.25]], np.float32)
    out = conv.depth_image_to_metres(padded_image(metres, "32FC1", pad=4, bigendian=bigendian))
    np.testing.assert_array_equal(out, metres)
    millimetres = np.array([[500, 0, 2000], [65535, 1, 7250]], np.uint16)
    out = conv.depth_image_to_metres(padded_image(millimetres, "16UC1", pad=2, bigendian=bigendian))
    expected = millimetres.astype(np.float32) / 1000
    expected[millimetres == 0] = np.nan
    np.testing.assert_allclose(out, expected)


def test_image_errors_are_clear() -> None:
    with pytest.raises(MessageFormatError, match="unsupported image encoding 'yuv422'"):
        conv.image_to_array(Image(height=1, width=1, encoding="yuv422", step=2, data=b"\0\0"))
    with pytest.raises(MessageFormatError, match="too short"):
        conv.image_to_rgb(Image(height=2, width=2, encoding="rgb8", step=6, data=bytes(11)))
    with pytest.raises(MessageFormatError, match="step"):
        conv.image_to_rgb(Image(height=2, width=2, encoding="rgb8", step=5, data=bytes(12)))
    with pytest.raises(MessageFormatError, match="colour"):
        conv.image_to_rgb(Image(height=1, width=1, encoding="32FC1", step=4, data=bytes(4)))


def test_image_fields_round_trip_through_rclpy_and_rosbags() -> None:
    depth = np.arange(12, dtype=np.float32).reshape(3, 4)
    fields = conv.image_fields(depth, "32FC1")
    assert fields["step"] == 16 and fields["data"].dtype == np.uint8
    ros_msg = Image(**{**fields, "data": array.array("B", fields["data"].tobytes())})
    np.testing.assert_array_equal(conv.image_to_array(ros_msg), depth)
    header = BagHeader(stamp=BagTime(sec=3, nanosec=4), frame_id="cam")
    bag_msg = BagImage(header=header, **fields)
    decoded = TYPESTORE.deserialize_cdr(
        TYPESTORE.serialize_cdr(bag_msg, BagImage.__msgtype__), BagImage.__msgtype__
    )
    np.testing.assert_array_equal(conv.image_to_array(decoded), depth)
    with pytest.raises(MessageFormatError):
        conv.image_fields(depth.astype(np.float64), "32FC1")


def make_cloud(
    xyz: np.ndarray,
    *,
    point_step: int = 16,
    offsets=(0, 4, 8),
    height: int = 1,
    row_pad: int = 0,
    bigendian: bool = False,
    extra_field: bool = True,
) -> PointCloud2:
    """An rclpy PointCloud2 with arbitrary layout; ``intensity`` filler after z when room."""
    n = len(xyz)
    width = n // height
    order = ">" if bigendian else "<"
    names, formats, field_offsets = ["x", "y", "z"], [order + "f4"] * 3, list(offsets)
    if extra_field and max(offsets) + 8 <= point_step:
        names.append("intensity")
        formats.append(order + "f4")
        field_offsets.append(max(offsets) + 4)
    dtype = np.dtype({"names": names, "formats": formats, "offsets": field_offsets, "itemsize": point_step})
    points = np.zeros(n, dtype)
    for i, name in enumerate("xyz"):
        points[name] = xyz[:, i]
    if "intensity" in names:
        points["intensity"] = 77.0
    rows = points.view(np.uint8).reshape(height, width * point_step)
    data = np.concatenate([rows, np.full((height, row_pad), 0xCD, np.uint8)], axis=1)
    fields = [
        PointField(name=name, offset=off, datatype=7, count=1)
        for name, off in zip(names, field_offsets, strict=True)
    ]
    return PointCloud2(
        height=height,
        width=width,
        fields=fields,
        is_bigendian=bigendian,
        point_step=point_step,
        row_step=width * point_step + row_pad,
        data=array.array("B", data.tobytes()),
        is_dense=False,
    )


@settings(max_examples=40, deadline=None)
@given(
    n_rows=st.integers(1, 4),
    width=st.integers(0, 9),
    extra=st.integers(0, 3),
    permute=st.permutations([0, 1, 2]),
    row_pad=st.integers(0, 5),
    bigendian=st.booleans(),
)
def test_cloud_layouts(n_rows, width, extra, permute, row_pad, bigendian) -> None:
    rng = np.random.default_rng(width)
    xyz = rng.normal(size=(n_rows * width, 3)).astype(np.float32)
    offsets = tuple(4 * p for p in permute)
    msg = make_cloud(
        xyz, point_step=12 + 4 * extra, offsets=offsets, height=n_rows, row_pad=row_pad, bigendian=bigendian
    )
    out = conv.cloud_to_xyz(msg)
    assert out.dtype == np.float32 and out.shape == (n_rows * width, 3)
    np.testing.assert_array_equal(out, xyz)


def test_cloud_is_a_view_for_the_common_layout() -> None:
    msg = make_cloud(np.ones((100, 3), np.float32), point_step=32)
    out = conv.cloud_to_xyz(msg)
    assert np.shares_memory(out, np.frombuffer(msg.data, np.uint8))


def test_cloud_errors_are_clear() -> None:
    good = make_cloud(np.ones((4, 3), np.float32))
    no_z = PointCloud2(
        height=1, width=4, fields=list(good.fields)[:2], point_step=16, row_step=64, data=good.data
    )
    with pytest.raises(MessageFormatError, match="no 'z' field"):
        conv.cloud_to_xyz(no_z)
    as_float64 = [PointField(name=f.name, offset=f.offset, datatype=8, count=1) for f in good.fields]
    with pytest.raises(MessageFormatError, match="float32"):
        conv.cloud_to_xyz(
            PointCloud2(height=1, width=4, fields=as_float64, point_step=16, row_step=64, data=good.data)
        )
    truncated = PointCloud2(
        height=1, width=4, fields=good.fields, point_step=16, row_step=64, data=good.data[:-1]
    )
    with pytest.raises(MessageFormatError, match="expected row_step\\*height"):
        conv.cloud_to_xyz(truncated)
    with pytest.raises(MessageFormatError, match="row_step"):
        conv.cloud_to_xyz(
            PointCloud2(
                height=1, width=4, fields=good.fields, point_step=16, row_step=60, data=good.data[:60]
            )
        )


def test_cloud_fields_round_trip_with_colour_through_rosbags() -> None:
    xyz = np.array([[1, 2, 3], [4, 5, np.nan]], np.float32)
    rgb = np.array([[255, 0, 10], [1, 2, 3]], np.uint8)
    fields = conv.cloud_fields(xyz, rgb)
    assert not fields["is_dense"] and fields["point_step"] == 16
    bag_msg = BagCloud(
        header=BagHeader(stamp=BagTime(sec=0, nanosec=0), frame_id="lidar"),
        **{**fields, "fields": [BagPointField(**f) for f in fields["fields"]]},
    )
    decoded = TYPESTORE.deserialize_cdr(
        TYPESTORE.serialize_cdr(bag_msg, BagCloud.__msgtype__), BagCloud.__msgtype__
    )
    np.testing.assert_array_equal(conv.cloud_to_xyz(decoded), xyz)
    packed = np.frombuffer(decoded.data, np.uint8).reshape(2, 16)[:, 12:16].copy().view(np.float32)[:, 0]
    np.testing.assert_array_equal(conv.unpack_rgb(packed), rgb)


@given(st.integers(-(2**40), 2**62))
def test_stamp_round_trip(ns: int) -> None:
    fields = conv.ns_to_stamp_fields(ns)
    assert 0 <= fields["nanosec"] < 1_000_000_000
    assert conv.stamp_to_ns(BagTime(**fields)) == ns


def scene_rgb(height: int = 48, width: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 4, yy * 5, (xx * yy) % 256], axis=2).astype(np.uint8)


def compressed(rgb: np.ndarray, extension: str, fmt: str) -> CompressedImage:
    """What image_transport's compressed publisher sends: OpenCV-encoded BGR bytes."""
    ok, data = cv2.imencode(extension, np.ascontiguousarray(rgb[..., ::-1]))
    assert ok
    return CompressedImage(format=fmt, data=array.array("B", data.tobytes()))


@pytest.mark.parametrize("fmt", ["png", "rgb8; png compressed bgr8", "bgr8; png compressed bgr8"])
def test_compressed_png_decodes_to_the_same_rgb(fmt: str) -> None:
    rgb = scene_rgb()
    msg = compressed(rgb, ".png", fmt)
    np.testing.assert_array_equal(conv.image_to_rgb(msg), rgb)
    bag_msg = BagCompressedImage(header=BagHeader(stamp=BagTime(sec=1, nanosec=2), frame_id="cam"),
                                 format=fmt, data=np.frombuffer(msg.data, np.uint8))
    np.testing.assert_array_equal(conv.image_to_rgb(bag_msg), rgb)  # rosbags' messages too


@pytest.mark.parametrize("fmt", ["jpeg", "rgb8; jpeg compressed bgr8"])
def test_compressed_jpeg_decodes_close_to_the_original(fmt: str) -> None:
    rgb = scene_rgb()
    rgb[..., 2] = 30  # smooth channels (JPEG is lossy on the product pattern) that differ in order
    decoded = conv.image_to_rgb(compressed(rgb, ".jpg", fmt)).astype(int)
    assert decoded.shape == rgb.shape
    assert np.abs(decoded[..., :2] - rgb[..., :2]).mean() < 4
    assert np.abs(decoded - rgb).mean() * 10 < np.abs(decoded[..., ::-1] - rgb).mean()  # RGB order


def test_compressed_mono_becomes_three_equal_channels() -> None:
    grey = scene_rgb()[..., 0]
    ok, data = cv2.imencode(".png", grey)
    msg = CompressedImage(format="mono8; png compressed ", data=array.array("B", data.tobytes()))
    rgb = conv.image_to_rgb(msg)
    assert rgb.shape == (*grey.shape, 3)
    np.testing.assert_array_equal(rgb[..., 1], grey)


def test_bad_compressed_payloads_are_clear_errors() -> None:
    good = compressed(scene_rgb(), ".png", "png")
    truncated = CompressedImage(format="png", data=good.data[: len(good.data) // 3])
    cases = [
        (CompressedImage(format="png", data=array.array("B", b"not an image")), "cannot decode"),
        (truncated, "cannot decode"),
        (CompressedImage(format="jpeg", data=array.array("B")), "empty"),
        (CompressedImage(format="16UC1; compressedDepth png", data=good.data), "compressedDepth"),
        (CompressedImage(format="theora", data=good.data), "unsupported compressed image format"),
    ]
    for msg, message in cases:
        with pytest.raises(MessageFormatError, match=message):
            conv.image_to_rgb(msg)
