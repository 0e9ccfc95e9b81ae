"""Property-based fuzzing of the core's message conversions and calibration parsing (hypothesis).

Arbitrary Image, PointCloud2 and CameraInfo field combinations (rclpy messages: every field within its
ROS type) either convert to exactly what a byte-by-byte reference decoder reads, or raise the
project's own error (MessageFormatError, CalibrationError; BadInput for the whole frame). Never another
exception, never a numpy warning (turned into errors here), never a read outside the buffer (the
reference decoder, ``struct.unpack_from``, fails on any byte the conversion claims beyond the data).
Layouts are drawn near valid ones and then broken one field at a time, so both branches are exercised.
"""

from __future__ import annotations

import array
import struct
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField, RegionOfInterest

from nlspn_ros.geometry import CalibrationError, CameraModel, project_points
from nlspn_ros.pipeline import frame as frames
from nlspn_ros.pipeline.conversions import (
    COLOUR_ENCODINGS,
    IMAGE_ENCODINGS,
    MessageFormatError,
    cloud_to_xyz,
    image_to_array,
    image_to_rgb,
)
from nlspn_ros.pipeline.settings import NodeSettings

UINT32_MAX = 2**32 - 1
# values where C int, int32, size arithmetic or float32 casts break
HUGE_INTS = st.sampled_from([2**15, 2**16, 2**31 - 1, 2**31, 2**32 - 1])
HUGE_FLOATS = st.sampled_from(
    [1e300, -1e300, 1e-300, 3.5e38, 1e30, float("nan"), float("inf"), -float("inf")]
)
EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def small_or_huge(low: int, high: int) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(low, high), HUGE_INTS)


def no_warnings(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return function(*args, **kwargs)


# ---------------------------------------------------------------- images

ITEM_FORMAT = {1: "B", 2: "H", 4: "I"}  # read the raw bits, so NaN payloads compare too


@st.composite
def images(draw) -> Image:
    encoding = draw(st.sampled_from([*IMAGE_ENCODINGS, "yuv422", "", "8UC3", "bgr16"]))
    dtype, channels = IMAGE_ENCODINGS.get(encoding, (np.dtype(np.uint8), 3))
    height, width = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    step = width * channels * dtype.itemsize + draw(st.integers(0, 3))
    size = step * height
    fields = {
        "height": height,
        "width": width,
        "step": step,
        "encoding": encoding,
        "is_bigendian": draw(st.integers(0, 1)),
    }
    broken = draw(st.sampled_from([None, "height", "width", "step", "size"]))
    if broken == "size":
        size = draw(st.integers(0, size + 8))
    elif broken:
        fields[broken] = draw(small_or_huge(0, 12))
    data = draw(st.binary(min_size=size, max_size=size))
    return Image(**fields, data=array.array("B", data))


def reference_pixels(msg: Image) -> np.ndarray:
    """H x W x C raw element bits, read one element at a time from the message bytes."""
    dtype, channels = IMAGE_ENCODINGS[msg.encoding]
    code = (">" if msg.is_bigendian else "<") + ITEM_FORMAT[dtype.itemsize]
    data = bytes(msg.data)
    return np.array(
        [
            [
                [
                    struct.unpack_from(code, data, r * msg.step + (c * channels + k) * dtype.itemsize)[0]
                    for k in range(channels)
                ]
                for c in range(msg.width)
            ]
            for r in range(msg.height)
        ]
    )


@EXAMPLES
@given(images())
def test_any_image_converts_exactly_or_raises_message_format_error(msg: Image) -> None:
    try:
        pixels = no_warnings(image_to_array, msg)
    except MessageFormatError:
        return
    dtype, channels = IMAGE_ENCODINGS[msg.encoding]
    expected = reference_pixels(msg)
    assert pixels.shape == ((msg.height, msg.width) if channels == 1 else (msg.height, msg.width, channels))
    bits = pixels.view(pixels.dtype.byteorder.replace("|", "=") + f"u{dtype.itemsize}").astype(np.uint64)
    np.testing.assert_array_equal(bits.reshape(expected.shape), expected)
    if msg.encoding in COLOUR_ENCODINGS:
        rgb = no_warnings(image_to_rgb, msg)
        order = {
            "rgb8": [0, 1, 2],
            "bgr8": [2, 1, 0],
            "rgba8": [0, 1, 2],
            "bgra8": [2, 1, 0],
            "mono8": [0, 0, 0],
        }
        assert rgb.shape == (msg.height, msg.width, 3) and rgb.dtype == np.uint8
        np.testing.assert_array_equal(rgb, expected[:, :, order[msg.encoding]])


# ---------------------------------------------------------------- point clouds


@st.composite
def clouds(draw) -> PointCloud2:
    extra = draw(st.integers(0, 3))
    point_step = 12 + 4 * extra
    slots = draw(st.permutations(range(3 + extra)))
    fields = [
        PointField(name=name, offset=4 * slot, datatype=PointField.FLOAT32, count=1)
        for name, slot in zip(("x", "y", "z"), slots, strict=False)
    ]
    if extra:
        fields.append(PointField(name="intensity", offset=4 * slots[3], datatype=PointField.FLOAT32, count=1))
    height, width = draw(st.integers(0, 3)), draw(st.integers(0, 5))
    row_step = width * point_step + draw(st.integers(0, 5))
    values = {
        "height": height,
        "width": width,
        "point_step": point_step,
        "row_step": row_step,
        "is_bigendian": draw(st.booleans()),
    }
    size = row_step * height
    broken = draw(
        st.sampled_from(
            [
                None,
                None,
                "height",
                "width",
                "point_step",
                "row_step",
                "size",
                "offset",
                "datatype",
                "count",
                "name",
                "duplicate",
            ]
        )
    )
    if broken in ("height", "width", "point_step", "row_step"):
        values[broken] = draw(small_or_huge(0, 64))
    elif broken == "size":
        size = draw(st.integers(0, size + 16))
    elif broken:
        field = fields[draw(st.integers(0, 2))]
        if broken == "offset":
            field.offset = draw(small_or_huge(0, 64))
        elif broken == "datatype":
            field.datatype = draw(st.integers(0, 255))
        elif broken == "count":
            field.count = draw(small_or_huge(0, 4))
        elif broken == "name":
            field.name = draw(st.sampled_from(["", "X", "rgb", "x "]))
        else:
            fields.append(
                PointField(
                    name=field.name, offset=draw(small_or_huge(0, 64)), datatype=PointField.FLOAT32, count=1
                )
            )
    data = draw(st.binary(min_size=size, max_size=size))
    return PointCloud2(fields=fields, **values, data=array.array("B", data))


REFERENCE_POINTS = 4096  # points decoded one by one in Python; a large valid cloud is checked on these


def reference_points(msg: PointCloud2, limit: int = REFERENCE_POINTS) -> np.ndarray:
    """N x 3 float32 bits of x, y, z of the first ``limit`` points, read point by point (the last field
    of a name wins, as a structured dtype built from a dict would take it)."""
    offsets = {f.name: f.offset for f in msg.fields}
    code = (">" if msg.is_bigendian else "<") + "I"
    data = bytes(msg.data)
    count = min(msg.height * msg.width, limit)
    rows_cols = (divmod(k, msg.width) for k in range(count))  # not a loop over every row: height may be 2**31
    return np.array(
        [
            [
                struct.unpack_from(code, data, r * msg.row_step + i * msg.point_step + offsets[n])[0]
                for n in "xyz"
            ]
            for r, i in rows_cols
        ],
        dtype=np.uint64,
    ).reshape(-1, 3)


@EXAMPLES
@given(clouds())
def test_any_cloud_converts_exactly_or_raises_message_format_error(msg: PointCloud2) -> None:
    try:
        xyz = no_warnings(cloud_to_xyz, msg)
    except MessageFormatError:
        return
    expected = reference_points(msg)
    assert xyz.dtype == np.float32 and xyz.shape == (msg.height * msg.width, 3)
    np.testing.assert_array_equal(xyz[: len(expected)].view(np.uint32).astype(np.uint64), expected)


def test_point_step_beyond_a_c_int_is_a_message_format_error() -> None:
    """point_step = 2^32 - 1 raised numpy's "integer won't fit into a C int" (frames.failed)."""
    fields = [
        PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1) for i, n in enumerate("xyz")
    ]
    for width, height in ((1, 1), (0, 0), (5, 0)):
        msg = PointCloud2(
            fields=fields,
            height=height,
            width=width,
            point_step=UINT32_MAX,
            row_step=UINT32_MAX,
            data=array.array("B", bytes(12)),
        )
        with pytest.raises(MessageFormatError, match="point_step"):
            cloud_to_xyz(msg)


# ---------------------------------------------------------------- calibration and the whole frame

FLOATS = st.one_of(st.floats(-2000.0, 2000.0), HUGE_FLOATS)
MODELS = st.sampled_from(["plumb_bob", "rational_polynomial", "equidistant", "fisheye", "", "kannala_brandt"])


@st.composite
def camera_infos(draw) -> CameraInfo:
    width, height = draw(st.integers(8, 64)), draw(st.integers(8, 48))
    fx = draw(st.floats(5.0, 500.0))
    k = [fx, 0.0, width / 2, 0.0, fx, height / 2, 0.0, 0.0, 1.0]
    p = [fx, 0.0, width / 2, 0.0, 0.0, fx, height / 2, 0.0, 0.0, 0.0, 1.0, 0.0]
    r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    d = draw(st.lists(st.floats(-0.3, 0.3), min_size=0, max_size=14))
    info = {
        "width": width,
        "height": height,
        "binning_x": 0,
        "binning_y": 0,
        "roi": RegionOfInterest(),
        "distortion_model": draw(MODELS),
    }
    for _ in range(draw(st.integers(0, 3))):  # break a few things
        what = draw(st.sampled_from(["k", "p", "r", "d", "width", "height", "binning", "roi"]))
        if what in ("k", "p", "r", "d") and (target := {"k": k, "p": p, "r": r, "d": d}[what]):
            target[draw(st.integers(0, len(target) - 1))] = draw(FLOATS)
        elif what in ("width", "height"):
            info[what] = draw(small_or_huge(0, 64))
        elif what == "binning":
            info["binning_x"] = draw(small_or_huge(0, 4))
        elif what == "roi":
            info["roi"] = RegionOfInterest(
                x_offset=draw(small_or_huge(0, 32)),
                y_offset=draw(st.integers(0, 8)),
                width=draw(small_or_huge(0, 64)),
                height=draw(st.integers(0, 48)),
                do_rectify=draw(st.booleans()),
            )
    return CameraInfo(**info, k=k, p=p, r=r, d=d)


POINTS = np.array(
    [[0.0, 0.0, 5.0], [1.0, -0.5, 4.0], [-3.0, 1.0, 6.0], [0.2, 0.1, 0.5], [50.0, 0.0, 1.0]], np.float32
)


@EXAMPLES
@given(camera_infos(), st.booleans())
def test_any_camera_info_gives_a_valid_camera_or_a_calibration_error(
    info: CameraInfo, rectified: bool
) -> None:
    try:
        camera = no_warnings(CameraModel.from_camera_info, info, rectified=rectified)
    except CalibrationError:
        return
    assert camera.width > 0 and camera.height > 0 and camera.fx > 0 and camera.fy > 0
    projection = no_warnings(project_points, POINTS, np.eye(4), camera)
    depth = projection.depth
    assert depth.shape == (camera.height, camera.width)
    # each depth is a point's z (R, accepted as a rotation within its tolerance, may scale it by ~1e-5)
    landed = depth[depth > 0]
    assert np.isclose(landed[:, None], POINTS[None, :, 2], rtol=1e-4, atol=0).any(axis=1).all()
    for derived in (
        lambda: camera.scaled(0.5),
        lambda: camera.cropped(1, 1, camera.width - 1, camera.height - 1),
    ):
        try:
            no_warnings(derived)
        except CalibrationError:
            pass


@st.composite
def frames_(draw):
    info = draw(camera_infos())
    width, height = max(1, min(info.width, 64)), max(1, min(info.height, 48))
    image = Image(
        height=height,
        width=width,
        encoding="rgb8",
        step=3 * width,
        data=array.array("B", bytes(3 * width * height)),
    )
    if draw(st.booleans()):
        image = draw(images())
    xyz = draw(
        st.lists(
            st.tuples(FLOATS, FLOATS, st.one_of(st.floats(0.05, 200.0), HUGE_FLOATS)), min_size=0, max_size=20
        )
    )
    xyz = np.array(xyz, np.float64).reshape(-1, 3)
    with np.errstate(over="ignore"):  # out-of-range doubles become inf in float32: part of the fuzz
        points = xyz.astype(np.float32)
    fields = [
        PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1) for i, n in enumerate("xyz")
    ]
    cloud = PointCloud2(
        fields=fields,
        height=1,
        width=len(points),
        point_step=12,
        row_step=12 * len(points),
        data=array.array("B", points.tobytes()),
    )
    if draw(st.booleans()):
        cloud = draw(clouds())
    return image, info, cloud


@EXAMPLES
@given(frames_(), st.booleans(), st.sampled_from([1.0, 0.5, 2.0]))
def test_any_frame_is_prepared_and_projected_or_is_bad_input(frame, rectified: bool, scale: float) -> None:
    """The node's per-frame steps before the network: BadInput (counted as bad_input.<kind>) or a
    sparse depth image the size of the (scaled) camera, never another exception."""
    image, info, cloud = frame
    settings = NodeSettings.defaults().changed({"image_rectified": rectified, "scale": scale})
    try:
        rgb, camera, xyz = no_warnings(frames.prepare_inputs, image, info, cloud, settings)
        projection = no_warnings(frames.project, xyz, camera, settings)
    except frames.BadInput:
        return
    assert rgb.shape == (camera.height, camera.width, 3)
    assert projection.depth.shape == (camera.height, camera.width)
    sparse = projection.depth[projection.depth > 0]
    assert np.all((sparse >= settings.min_depth) & (sparse <= settings.max_depth))
