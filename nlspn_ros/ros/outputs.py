"""The node's outputs: one table of topic, message type, the switch that enables it and how its
message is built from a completed frame.

Every image has a CameraInfo beside it (image_transport's ``<ns>/camera_info``), all of the output
geometry (after crop/scale): depth_image_proc and RViz's DepthCloud pair them by exact stamp. The
messages several outputs share (depth, confidence, camera_info) are built once per frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from nlspn_ros.msg import DepthCompletion
from nlspn_ros.pipeline import frame as frames
from nlspn_ros.pipeline.settings import NodeSettings
from nlspn_ros.ros.messages import camera_info_msg, cloud_msg, image_msg


@dataclass
class OutgoingFrame:
    """A completed frame on its way out: ``header`` of its image, ``arrival`` the time.monotonic()
    the image reached the node (None: unknown)."""

    header: Any
    result: frames.FrameResult
    settings: NodeSettings
    arrival: float | None

    @cached_property
    def depth(self) -> Image:
        return image_msg(self.header, self.result.depth, "32FC1")

    @cached_property
    def confidence(self) -> Image | None:
        """None for a completer without confidence."""
        if self.result.confidence is None:
            return None
        return image_msg(self.header, self.result.confidence, "32FC1")

    @cached_property
    def camera_info(self) -> CameraInfo:
        """One message for every image output (all share the output geometry)."""
        return camera_info_msg(self.header, self.result.camera.to_camera_info_fields())


def _confidence_info(f: OutgoingFrame) -> CameraInfo | None:
    return None if f.result.confidence is None else f.camera_info


def _depth_raw(f: OutgoingFrame) -> Image:
    return image_msg(f.header, frames.depth_to_millimetres(f.result.depth), "16UC1")


def _sparse_depth(f: OutgoingFrame) -> Image:
    return image_msg(f.header, frames.sparse_for_publishing(f.result.sparse), "32FC1")


def _color(f: OutgoingFrame) -> Image:
    colours = frames.colorize_depth(f.result.depth, f.settings.min_depth, f.settings.max_depth)
    return image_msg(f.header, colours, "rgb8")


def _points(f: OutgoingFrame) -> PointCloud2:
    xyz, rgb = frames.depth_to_points(f.result.depth, f.result.rgb, f.result.camera,
                                      f.settings.points_decimation)
    return cloud_msg(f.header, xyz, rgb)


def _completion(f: OutgoingFrame) -> DepthCompletion:
    latency_ms = 0.0 if f.arrival is None else (time.monotonic() - f.arrival) * 1e3
    return DepthCompletion(
        header=f.header,
        depth=f.depth,
        confidence=f.confidence or Image(header=f.header),
        camera_info=f.camera_info,
        num_input_points=f.result.projection.pixels,
        latency_ms=latency_ms,
    )


@dataclass(frozen=True)
class Output:
    """``topic`` (relative), ``msg_type``; ``build`` makes the message (None: nothing this frame);
    ``enabled`` reads the settings switch of an optional output (None: always on)."""

    topic: str
    msg_type: type
    build: Callable[[OutgoingFrame], Any]
    enabled: Callable[[NodeSettings], bool] | None = None


# output key -> Output, in publishing order; the keys name the outputs in the code and diagnostics
OUTPUTS: dict[str, Output] = {
    "depth": Output("depth/image", Image, lambda f: f.depth),
    "depth_info": Output("depth/camera_info", CameraInfo, lambda f: f.camera_info),
    "confidence": Output("confidence/image", Image, lambda f: f.confidence),
    "confidence_info": Output("confidence/camera_info", CameraInfo, _confidence_info),
    "depth_raw": Output("depth/image_raw", Image, _depth_raw, lambda s: s.publish.depth_raw),
    "sparse_depth": Output("sparse_depth/image", Image, _sparse_depth, lambda s: s.publish.sparse_depth),
    "sparse_depth_info": Output("sparse_depth/camera_info", CameraInfo, lambda f: f.camera_info,
                                lambda s: s.publish.sparse_depth),
    "color": Output("depth/color", Image, _color, lambda s: s.publish.color),
    "rgb": Output("rgb/image", Image, lambda f: image_msg(f.header, f.result.rgb, "rgb8")),
    "rgb_info": Output("rgb/camera_info", CameraInfo, lambda f: f.camera_info),
    "points": Output("depth/points", PointCloud2, _points, lambda s: s.publish.points),
    "completion": Output("completion", DepthCompletion, _completion),
}


def enabled(key: str, settings: NodeSettings) -> bool:
    """Whether the settings let output ``key`` be published (subscribers aside)."""
    switch = OUTPUTS[key].enabled
    return switch is None or switch(settings)
