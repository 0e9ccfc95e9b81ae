"""ROS message <-> numpy conversions, duck-typed on the ROS 2 field names.

The same functions read rclpy messages and rosbags' message dataclasses (``data`` is an
``array.array`` in one, an ``np.ndarray`` in the other: both expose the buffer protocol).
Reading returns zero-copy views that respect ``step``/``row_step``, the encoding and
``is_bigendian``. Writing returns dicts of message fields with ``data`` as a 1-D np.uint8
array (what rosbags serialises); ``nlspn_ros.ros.messages`` turns it into rclpy messages.
No rclpy import here.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from numpy.lib import recfunctions

NATIVE_BIGENDIAN = sys.byteorder == "big"

# encoding -> (element dtype, channels)
IMAGE_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "32FC1": (np.dtype(np.float32), 1),
    "16UC1": (np.dtype(np.uint16), 1),
}
COLOUR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")

# sensor_msgs/PointField datatype constants
POINT_FIELD_FLOAT32 = 7
POINT_FIELD_UINT32 = 6
POINT_FIELD_UINT16 = 4


class MessageFormatError(ValueError):
    """A message whose layout contradicts its own fields or that this package does not support."""


def _buffer(data: Any) -> np.ndarray:
    """1-D uint8 view of a message's ``data`` (bytes, array.array, memoryview or np.ndarray)."""
    return np.frombuffer(data, dtype=np.uint8)


# ---------------------------------------------------------------------------- images


def image_to_array(msg: Any) -> np.ndarray:
    """View of an Image as HxW (one channel) or HxWxC, dtype per encoding and byte order.

    Multi-byte encodings keep the message's byte order (e.g. ``>f4`` when ``is_bigendian``);
    values read correctly either way, ``astype`` converts to native when needed.
    """
    encoding = msg.encoding
    if encoding not in IMAGE_ENCODINGS:
        raise MessageFormatError(
            f"unsupported image encoding {encoding!r} (supported: {', '.join(IMAGE_ENCODINGS)})"
        )
    dtype, channels = IMAGE_ENCODINGS[encoding]
    if dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * channels * dtype.itemsize
    if height <= 0 or width <= 0:
        raise MessageFormatError(f"empty image ({width}x{height})")
    if step < row_bytes:
        raise MessageFormatError(f"image step {step} < width*channels*itemsize = {row_bytes} ({encoding})")
    buf = _buffer(msg.data)
    if buf.size < step * height:
        raise MessageFormatError(
            f"image data too short: {buf.size} bytes < step*height = {step}*{height} = {step * height}"
        )
    rows = buf[: step * height].reshape(height, step)[:, :row_bytes]
    pixels = rows.view(dtype)  # last axis is contiguous, so this stays a view
    return pixels if channels == 1 else pixels.reshape(height, width, channels)


# codecs of sensor_msgs/CompressedImage this package decodes (image_transport's "compressed")
COMPRESSED_CODECS = ("jpeg", "png")


def is_compressed_image(msg: Any) -> bool:
    """True for a sensor_msgs/CompressedImage (``format`` + ``data``, no ``encoding``)."""
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


def compressed_image_to_rgb(msg: Any) -> np.ndarray:
    """HxWx3 uint8 RGB decoded (OpenCV) from a jpeg or png sensor_msgs/CompressedImage.

    ``format`` is image_transport's: ``"<encoding>; jpeg compressed <encoding>"`` (or ``png``), or
    older publishers' bare ``"jpeg"`` / ``"png"``. Grey images come back as three equal channels.
    compressedDepth (16UC1/32FC1 PNG with a header) and other codecs raise
    :class:`MessageFormatError`, as does a payload OpenCV cannot decode.
    """
    fmt = str(msg.format).lower()
    if "compresseddepth" in fmt:
        raise MessageFormatError(f"compressed image format {msg.format!r}: compressedDepth is a depth "
                                 "image, not a camera image")
    codecs = [codec for codec in COMPRESSED_CODECS if codec in fmt.replace("jpg", "jpeg")]
    if not codecs:
        raise MessageFormatError(f"unsupported compressed image format {msg.format!r} "
                                 f"(supported: {', '.join(COMPRESSED_CODECS)})")
    data = _buffer(msg.data)
    if data.size == 0:
        raise MessageFormatError(f"empty compressed image ({msg.format!r})")
    import cv2  # here, not at module level: the rest of this module needs only numpy

    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)  # 8-bit, 3 channels whatever the stored layout
    if bgr is None:
        raise MessageFormatError(f"cannot decode the {codecs[0]} payload of a compressed image "
                                 f"({data.size} bytes, format {msg.format!r})")
    return bgr[..., ::-1]


def image_to_rgb(msg: Any) -> np.ndarray:
    """HxWx3 uint8 in RGB order from any colour encoding (a view, no copy, of the message data) or
    from a jpeg/png CompressedImage (decoded)."""
    if is_compressed_image(msg):
        return compressed_image_to_rgb(msg)
    if msg.encoding not in COLOUR_ENCODINGS:
        raise MessageFormatError(
            f"unsupported colour image encoding {msg.encoding!r} (supported: {', '.join(COLOUR_ENCODINGS)})"
        )
    pixels = image_to_array(msg)
    if msg.encoding == "rgb8":
        return pixels
    if msg.encoding == "bgr8":
        return pixels[..., ::-1]
    if msg.encoding == "rgba8":
        return pixels[..., :3]
    if msg.encoding == "bgra8":
        return pixels[..., 2::-1]
    return np.broadcast_to(pixels[..., None], (*pixels.shape, 3))  # mono8


def depth_image_to_metres(msg: Any) -> np.ndarray:
    """HxW float32 metres from a 32FC1 (metres) or 16UC1 (millimetres, 0 = invalid -> NaN) image."""
    pixels = image_to_array(msg)
    if msg.encoding == "32FC1":
        return pixels.astype(np.float32, copy=False)
    if msg.encoding == "16UC1":
        metres = pixels.astype(np.float32) / 1000.0
        metres[pixels == 0] = np.nan
        return metres
    raise MessageFormatError(f"not a depth encoding: {msg.encoding!r} (expected 32FC1 or 16UC1)")


def image_fields(pixels: np.ndarray, encoding: str) -> dict[str, Any]:
    """Image message fields (no header) for an HxW or HxWxC array in ``encoding``."""
    if encoding not in IMAGE_ENCODINGS:
        raise MessageFormatError(f"unsupported image encoding {encoding!r}")
    dtype, channels = IMAGE_ENCODINGS[encoding]
    if pixels.dtype != dtype:
        raise MessageFormatError(f"{encoding} needs dtype {dtype}, got {pixels.dtype}")
    expected_ndim = 2 if channels == 1 else 3
    if pixels.ndim != expected_ndim or (channels > 1 and pixels.shape[2] != channels):
        raise MessageFormatError(
            f"{encoding} needs shape HxW{'' if channels == 1 else f'x{channels}'}, got {pixels.shape}"
        )
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    return {
        "height": height,
        "width": width,
        "encoding": encoding,
        "is_bigendian": int(NATIVE_BIGENDIAN and dtype.itemsize > 1),
        "step": width * channels * dtype.itemsize,
        "data": pixels.reshape(-1).view(np.uint8),
    }


# ---------------------------------------------------------------------------- point clouds


# numpy's itemsize is a C int: a larger point_step must be refused before building the dtype
MAX_POINT_STEP = 2**31 - 1


def _xyz_dtype(msg: Any) -> np.dtype:
    """Structured dtype reading x, y, z (and skipping every other byte) of one point."""
    point_step = int(msg.point_step)
    if not 0 < point_step <= MAX_POINT_STEP:
        raise MessageFormatError(f"point_step {point_step} is not in [1, {MAX_POINT_STEP}]")
    byte_order = ">" if msg.is_bigendian else "<"
    by_name = {f.name: f for f in msg.fields}
    offsets = []
    for name in ("x", "y", "z"):
        field = by_name.get(name)
        if field is None:
            present = ", ".join(f.name for f in msg.fields) or "none"
            raise MessageFormatError(f"point cloud has no {name!r} field (fields: {present})")
        if field.datatype != POINT_FIELD_FLOAT32 or field.count != 1:
            raise MessageFormatError(
                f"point cloud field {name!r} must be one float32 (datatype 7, count 1), "
                f"got datatype {field.datatype}, count {field.count}"
            )
        if not 0 <= field.offset <= point_step - 4:
            raise MessageFormatError(
                f"field {name!r} at offset {field.offset} overruns point_step {point_step}"
            )
        offsets.append(int(field.offset))
    return np.dtype(
        {
            "names": ["x", "y", "z"],
            "formats": [byte_order + "f4"] * 3,
            "offsets": offsets,
            "itemsize": point_step,
        }
    )


def cloud_to_xyz(msg: Any) -> np.ndarray:
    """Nx3 float32 x, y, z of a PointCloud2 (organized or not, any point_step, other fields ignored).

    A view of the message data where the layout allows (x, y, z adjacent, native byte order,
    no row padding), else a compact copy. Non-finite points are kept (the projection drops them).
    """
    dtype = _xyz_dtype(msg)
    height, width = int(msg.height), int(msg.width)
    point_step, row_step = int(msg.point_step), int(msg.row_step)
    if min(height, width, row_step) < 0:
        raise MessageFormatError(f"negative cloud size: height {height}, width {width}, row_step {row_step}")
    if row_step < width * point_step:
        raise MessageFormatError(f"row_step {row_step} < width*point_step = {width}*{point_step}")
    buf = _buffer(msg.data)
    if buf.size != row_step * height:
        raise MessageFormatError(
            f"point cloud data is {buf.size} bytes, expected row_step*height = {row_step}*{height} = "
            f"{row_step * height} (width {width}, point_step {point_step})"
        )
    if height * width == 0:
        return np.empty((0, 3), np.float32)
    rows = buf.reshape(height, row_step)[:, : width * point_step]
    points = rows.view(dtype).reshape(-1)
    return recfunctions.structured_to_unstructured(points, dtype=np.float32)


# PointField datatype -> numpy scalar type (little-endian; the byte order is the message's)
_FIELD_TYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}


def cloud_field(msg: Any, name: str) -> np.ndarray:
    """(N,) values of the scalar field ``name`` of a PointCloud2 (e.g. a Velodyne ``ring``), one per
    point in the order of :func:`cloud_to_xyz`; MessageFormatError if the cloud has no such field."""
    field = next((f for f in msg.fields if f.name == name), None)
    if field is None:
        present = ", ".join(f.name for f in msg.fields) or "none"
        raise MessageFormatError(f"point cloud has no {name!r} field (fields: {present})")
    if field.datatype not in _FIELD_TYPES or field.count != 1:
        raise MessageFormatError(f"point cloud field {name!r} is not one scalar (datatype {field.datatype}, "
                                 f"count {field.count})")
    kind = (">" if msg.is_bigendian else "<") + _FIELD_TYPES[field.datatype]
    point_step = int(msg.point_step)
    if field.offset + np.dtype(kind).itemsize > point_step:
        raise MessageFormatError(f"field {name!r} at offset {field.offset} overruns point_step {point_step}")
    cloud_to_xyz(msg)  # the same size and layout checks
    dtype = np.dtype({"names": [name], "formats": [kind], "offsets": [int(field.offset)],
                      "itemsize": point_step})
    height, width, row_step = int(msg.height), int(msg.width), int(msg.row_step)
    rows = _buffer(msg.data).reshape(height, row_step)[:, : width * point_step]
    return np.ascontiguousarray(rows.view(dtype).reshape(-1)[name])


def cloud_fields(xyz: np.ndarray, rgb: np.ndarray | None = None, *, intensity: np.ndarray | None = None,
                 rings: np.ndarray | None = None) -> dict[str, Any]:
    """Unorganized PointCloud2 fields (no header) for Nx3 float32 points, optional Nx3 uint8 colours,
    (N,) intensities (float32 ``intensity``) and laser rings (uint16 ``ring``, as Velodyne drivers).

    ``fields`` is a list of dicts (name, offset, datatype, count) to build PointField messages from;
    colour is the usual ``rgb`` float32 field holding 0x00RRGGBB.
    """
    xyz = np.asarray(xyz)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise MessageFormatError(f"points must be Nx3, got {xyz.shape}")
    columns = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    for name, values in (("intensity", intensity), ("ring", rings)):
        if values is not None and np.shape(values) != (len(xyz),):
            raise MessageFormatError(f"{name} must have one value per point, got shape {np.shape(values)}")
    columns += [("rgb", "<f4")] * (rgb is not None) + [("intensity", "<f4")] * (intensity is not None)
    columns += [("ring", "<u2")] * (rings is not None)
    points = np.zeros(len(xyz), dtype=np.dtype(columns, align=False))
    points["x"], points["y"], points["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    if rgb is not None:
        if rgb.shape != xyz.shape or rgb.dtype != np.uint8:
            raise MessageFormatError(
                f"colours must be Nx3 uint8 matching the points, got {rgb.shape} {rgb.dtype}"
            )
        packed = (rgb[:, 0].astype(np.uint32) << 16) | (rgb[:, 1].astype(np.uint32) << 8) | rgb[:, 2]
        points["rgb"] = packed.view(np.float32)
    if intensity is not None:
        points["intensity"] = intensity
    if rings is not None:
        points["ring"] = rings
    point_step = points.dtype.itemsize
    datatypes = {"<f4": POINT_FIELD_FLOAT32, "<u2": POINT_FIELD_UINT16}
    return {
        "height": 1,
        "width": len(points),
        "fields": [
            {"name": name, "offset": points.dtype.fields[name][1], "datatype": datatypes[kind], "count": 1}
            for name, kind in columns
        ],
        "is_bigendian": False,
        "point_step": point_step,
        "row_step": point_step * len(points),
        "data": points.view(np.uint8).reshape(-1),
        "is_dense": bool(np.isfinite(xyz).all()),
    }


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """Nx3 uint8 colours from a packed float32 ``rgb`` field (inverse of :func:`cloud_fields`)."""
    value = np.ascontiguousarray(packed, dtype=np.float32).view(np.uint32)
    return np.stack([(value >> 16) & 255, (value >> 8) & 255, value & 255], axis=1).astype(np.uint8)


# ---------------------------------------------------------------------------- stamps


def stamp_to_ns(stamp: Any) -> int:
    """builtin_interfaces/Time (``sec``, ``nanosec``) -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp_fields(ns: int) -> dict[str, int]:
    """Integer nanoseconds -> ``{"sec", "nanosec"}`` with 0 <= nanosec < 1e9."""
    sec, nanosec = divmod(int(ns), 1_000_000_000)
    return {"sec": sec, "nanosec": nanosec}
