"""Writing rosbag2 files (sqlite3 or mcap) with rosbags, and building the sensor messages.

Message builders take arrays / camera models and use the field dicts of
:mod:`nlspn_ros.pipeline.conversions` and :meth:`CameraModel.to_camera_info_fields`, so bags carry
exactly what the node would publish or receive.
"""
from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import transforms3d
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer

from nlspn_ros.bag.errors import BagError
from nlspn_ros.bag.types import typestore
from nlspn_ros.geometry import CameraModel
from nlspn_ros.pipeline import conversions

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
CAMERA_FRAME = "camera_optical_frame"
LIDAR_FRAME = "velodyne"
TF_STATIC = "/tf_static"
_NO_TIME = QosTime(0, 0)
# What tf2's StaticTransformBroadcaster offers (reliable, transient local, keep last 1): a static
# transform reaches listeners that subscribe after it was sent. A bag records it with the topic, so
# a replay offers the same (a transient-local listener does not match a volatile publisher at all).
STATIC_BROADCASTER_QOS = Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL,
                             _NO_TIME, _NO_TIME, QosLiveliness.AUTOMATIC, _NO_TIME, False)
# The QoS a bag records for a topic written without one (rosbag2 records what the publishers offered).
DEFAULT_OFFERED_QOS: dict[str, tuple[Qos, ...]] = {TF_STATIC: (STATIC_BROADCASTER_QOS,)}


def _type(name: str) -> Any:
    return typestore().types[name]


def header(stamp_ns: int, frame_id: str) -> Any:
    time = _type("builtin_interfaces/msg/Time")(**conversions.ns_to_stamp_fields(stamp_ns))
    return _type("std_msgs/msg/Header")(stamp=time, frame_id=frame_id)


def image_msg(pixels: np.ndarray, encoding: str, stamp_ns: int, frame_id: str = CAMERA_FRAME) -> Any:
    """sensor_msgs/Image from an HxW / HxWxC array (``rgb8``, ``32FC1``, ...)."""
    fields = conversions.image_fields(pixels, encoding)
    return _type("sensor_msgs/msg/Image")(header=header(stamp_ns, frame_id), **fields)


def camera_info_msg(camera: CameraModel, stamp_ns: int, frame_id: str = CAMERA_FRAME) -> Any:
    fields = camera.to_camera_info_fields()
    roi = _type("sensor_msgs/msg/RegionOfInterest")(**fields.pop("roi"))
    arrays = {name: np.asarray(fields.pop(name), dtype=np.float64) for name in ("d", "k", "r", "p")}
    return _type("sensor_msgs/msg/CameraInfo")(header=header(stamp_ns, frame_id), roi=roi, **arrays, **fields)


def cloud_msg(xyz: np.ndarray, stamp_ns: int, frame_id: str = LIDAR_FRAME, *,
              intensity: np.ndarray | None = None, rings: np.ndarray | None = None) -> Any:
    """Unorganized sensor_msgs/PointCloud2 (x, y, z float32; optional intensity float32, ring uint16)."""
    fields = conversions.cloud_fields(np.asarray(xyz, dtype=np.float32), intensity=intensity, rings=rings)
    point_field = _type("sensor_msgs/msg/PointField")
    fields["fields"] = [point_field(**field) for field in fields["fields"]]
    return _type("sensor_msgs/msg/PointCloud2")(header=header(stamp_ns, frame_id), **fields)


def tf_message(transforms: list[tuple[np.ndarray, str, str]], stamp_ns: int) -> Any:
    """tf2_msgs/TFMessage of ``(transform, parent, child)`` triples: each 4x4 ``transform`` maps
    ``child`` coordinates to ``parent``."""
    geometry = "geometry_msgs/msg/"
    stamped = []
    for transform, parent, child in transforms:
        transform = np.asarray(transform, dtype=np.float64)
        w, x, y, z = transforms3d.quaternions.mat2quat(transform[:3, :3])
        stamped.append(_type(geometry + "TransformStamped")(
            header=header(stamp_ns, parent),
            child_frame_id=child,
            transform=_type(geometry + "Transform")(
                translation=_type(geometry + "Vector3")(*map(float, transform[:3, 3])),
                rotation=_type(geometry + "Quaternion")(x=x, y=y, z=z, w=w),
            ),
        ))
    return _type("tf2_msgs/msg/TFMessage")(transforms=stamped)


class BagWriter:
    """A new rosbag2 at ``path`` (must not exist); topics are added on their first message."""

    def __init__(self, path: str | Path, storage: str = "mcap") -> None:
        if storage not in STORAGES:
            raise BagError(f"unknown storage {storage!r} (choose from {', '.join(STORAGES)})")
        self.path = Path(path)
        self._writer = Writer(self.path, version=9, storage_plugin=STORAGES[storage])
        self._connections: dict[str, Any] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._writer.close()

    def write_raw(self, topic: str, msgtype: str, rawdata: bytes, log_time_ns: int,
                  offered_qos: tuple[Qos, ...] = ()) -> None:
        """Write CDR bytes as they are (what a recorder receives).

        ``offered_qos``: the QoS the topic's publishers offered, recorded with the topic on its first
        message (default: :data:`DEFAULT_OFFERED_QOS` for the topic, none otherwise).
        """
        connection = self._connections.get(topic)
        if connection is None:
            connection = self._writer.add_connection(
                topic, msgtype, typestore=typestore(),
                offered_qos_profiles=list(offered_qos or DEFAULT_OFFERED_QOS.get(topic, ())))
            self._connections[topic] = connection
        elif connection.msgtype != msgtype:
            raise BagError(f"topic {topic} has type {connection.msgtype}, got a {msgtype}")
        self._writer.write(connection, int(log_time_ns), rawdata)

    def write(self, topic: str, msg: Any, log_time_ns: int) -> None:
        """Serialize a rosbags message and write it."""
        msgtype = msg.__msgtype__
        self.write_raw(topic, msgtype, typestore().serialize_cdr(msg, msgtype), log_time_ns)
