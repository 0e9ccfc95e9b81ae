"""Field dicts from :mod:`nlspn_ros.pipeline.conversions` -> rclpy messages.

rclpy stores ``uint8[]`` as ``array.array('B')``. Given an ndarray it converts element by element
(far too slow for an image); its constructor copies any buffer once more, and so does the field's
setter unless the message checks its fields. So the bytes are copied exactly once, here, into an
``array.array`` that a field-checking message takes as it is (timings in docs/node.md).
"""

from __future__ import annotations

import array
from typing import Any

import numpy as np
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField, RegionOfInterest
from std_msgs.msg import Header

from nlspn_ros.pipeline import conversions


def _with_data(msg: Any, data: np.ndarray) -> Any:
    """``msg`` (constructed with ``check_fields=True``) with ``data`` copied once into its uint8[]."""
    buffer = array.array("B")
    buffer.frombytes(np.ascontiguousarray(data).view(np.uint8).reshape(-1))
    msg.data = buffer  # a field-checking setter keeps an array.array('B') without copying it
    return msg


def image_msg(header: Header, pixels: np.ndarray, encoding: str) -> Image:
    fields = conversions.image_fields(pixels, encoding)
    data = fields.pop("data")
    return _with_data(Image(header=header, check_fields=True, **fields), data)


def cloud_msg(header: Header, xyz: np.ndarray, rgb: np.ndarray | None = None) -> PointCloud2:
    fields = conversions.cloud_fields(xyz, rgb)
    data = fields.pop("data")
    fields["fields"] = [PointField(**f) for f in fields["fields"]]
    return _with_data(PointCloud2(header=header, check_fields=True, **fields), data)


def camera_info_msg(header: Header, fields: dict[str, Any]) -> CameraInfo:
    fields = dict(fields)
    fields["roi"] = RegionOfInterest(**fields["roi"])
    return CameraInfo(header=header, **fields)
