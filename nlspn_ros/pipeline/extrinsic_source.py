"""Where a frame's LiDAR -> camera extrinsic comes from: the parameters, or TF (ROS-free decisions).

The extrinsic parameters (``t_cam_lidar*``) win whenever one is set. With none set, the transform
comes from TF: the cloud's frame_id into the image's frame_id at the image's stamp (a static
transform serves every stamp; a dynamic one is interpolated at that stamp). A cloud already in the
image's frame needs no transform. This module decides which transform is needed, what a failed
lookup counts as and what the node says; :mod:`nlspn_ros.ros.tf_lookup` is the thin tf2_ros layer
that performs the lookup where tf2_ros is installed (every ROS distribution; not on PyPI).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nlspn_ros.geometry import CalibrationError, transform_from_quaternion
from nlspn_ros.pipeline.conversions import stamp_to_ns
from nlspn_ros.pipeline.frame import BadInput
from nlspn_ros.pipeline.settings import NodeSettings

# bad_input.<kind> counters
TF_MISSING = "tf_missing"  # no chain of transforms between the two frames (yet)
TF_TOO_OLD = "tf_too_old"  # the frames are connected, but not at the image's stamp
NO_EXTRINSIC = "no_extrinsic"  # frames differ, no extrinsic parameter, and no tf2_ros to ask

PARAMETER_REMEDY = (
    "set t_cam_lidar (or t_cam_lidar_xyz with t_cam_lidar_quaternion_xyzw or t_cam_lidar_rpy)"
)
TF2_REMEDY = "install tf2_ros (ros-jazzy-tf2-ros) to take it from TF"


@dataclass(frozen=True)
class TransformRequest:
    """A TF lookup: ``target_frame`` <- ``source_frame`` at ``stamp_ns`` (the image's stamp)."""

    target_frame: str  # the image's frame (camera optical frame)
    source_frame: str  # the cloud's frame
    stamp_ns: int

    def describe(self) -> str:
        return f"{self.source_frame!r} -> {self.target_frame!r} at {self.stamp_ns * 1e-9:.3f} s"


def tf_frame_id(frame_id: str) -> str:
    """A header frame_id as tf2 names frames: tf2 refuses a leading '/', ROS 1 bags carry one."""
    return frame_id.lstrip("/")


def needed_transform(settings: NodeSettings, image: Any, cloud: Any) -> TransformRequest | None:
    """The TF lookup this pair needs, or None when the parameters (or equal frames) decide.

    ``image``, ``cloud``: messages with ``header`` (rclpy or rosbags). Raises :class:`BadInput`
    (``tf_missing``) when a frame_id is empty: there is nothing to look up.
    """
    if settings.extrinsic_from_parameters:
        return None
    target, source = tf_frame_id(image.header.frame_id), tf_frame_id(cloud.header.frame_id)
    if target == source:
        return None
    if not target or not source:
        raise BadInput(
            TF_MISSING,
            f"cannot look up the extrinsic in TF: the {'image' if not target else 'cloud'} has no "
            f"frame_id (image {image.header.frame_id!r}, cloud {cloud.header.frame_id!r}); "
            + PARAMETER_REMEDY,
        )
    return TransformRequest(target, source, stamp_to_ns(image.header.stamp))


def lookup_failed(kind: str, request: TransformRequest, detail: str) -> BadInput:
    """The bad input a failed lookup is: ``kind`` is :data:`TF_MISSING` or :data:`TF_TOO_OLD`."""
    what = {
        TF_MISSING: "no transform",
        TF_TOO_OLD: "no transform at the image's stamp (TF too old or not yet received)",
    }[kind]
    return BadInput(
        kind, f"{what} {request.describe()} in TF: {detail.strip()} (or {PARAMETER_REMEDY})"
    )


def no_tf_available(request: TransformRequest) -> BadInput:
    return BadInput(
        NO_EXTRINSIC,
        f"the cloud's frame {request.source_frame!r} is not the image's {request.target_frame!r} and "
        f"no extrinsic is known: {PARAMETER_REMEDY}, or {TF2_REMEDY}",
    )


def configure_notice(settings: NodeSettings, tf_available: bool) -> str | None:
    """The one line the node logs at configure when it cannot know any extrinsic, else None."""
    if settings.extrinsic_from_parameters or tf_available:
        return None
    return (
        "no extrinsic parameter is set and tf2_ros is not installed: clouds in another frame than "
        f"the image's are skipped (bad_input.{NO_EXTRINSIC}); {PARAMETER_REMEDY}, or {TF2_REMEDY}"
    )


def matrix_from_transform(transform: Any) -> np.ndarray:
    """4x4 from a geometry_msgs/Transform (``translation`` x, y, z; ``rotation`` x, y, z, w)."""
    t, q = transform.translation, transform.rotation
    try:
        return transform_from_quaternion([t.x, t.y, t.z], [q.x, q.y, q.z, q.w])
    except CalibrationError as exc:
        raise BadInput(TF_MISSING, f"TF holds an invalid transform: {exc}") from exc


# (request, timeout in seconds) -> 4x4 T_target_source; raises BadInput
Lookup = Callable[[TransformRequest, float], np.ndarray]


def extrinsic_for(settings: NodeSettings, image: Any, cloud: Any, lookup: Lookup | None) -> np.ndarray:
    """4x4 T_cam_lidar for this pair: the parameters', identity for equal frames, else TF's through
    ``lookup`` (None where tf2_ros is missing: :data:`NO_EXTRINSIC`). Raises :class:`BadInput`."""
    request = needed_transform(settings, image, cloud)
    if request is None:
        return settings.extrinsic  # the parameters' (identity when none is set)
    if lookup is None:
        raise no_tf_available(request)
    return lookup(request, settings.tf_timeout)
