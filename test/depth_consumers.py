"""Readers of the node's outputs written the way depth_image_proc and RViz's DepthCloud read topics.

Plain functions over received messages (no ROS calls), so a test feeds them what a real
subscriber received. What they check is what those tools do before they use a frame:

- image_transport pairs an image topic ``<ns>/<name>`` with ``<ns>/camera_info`` by exact stamp
  (``getCameraInfoTopic``); depth_image_proc and DepthCloud use that CameraInfo's K/P with the
  image's pixel grid, so size, stamp and frame must agree.
- depth_image_proc's ``DepthTraits``: 16UC1 millimetres (0 = invalid) or 32FC1 metres where only
  non-finite values are invalid: 0.0 is a valid depth, a point at the camera origin (REP 118: NaN).
- point_cloud_xyzrgb and DepthCloud's colour need the RGB image at the depth image's resolution
  ("Depth resolution (WxH) does not match RGB resolution"), in rgb8, rgba8, bgr8, bgra8 or mono8.
- Image rows: ``step == width * bytes per pixel`` and little-endian data on this host.
"""

from __future__ import annotations

import sys

import numpy as np

from nlspn_ros.pipeline import conversions

DEPTH_ENCODINGS = ("16UC1", "32FC1")
RGB_ENCODINGS = ("rgb8", "rgba8", "bgr8", "bgra8", "mono8")
BYTES_PER_PIXEL = {"16UC1": 2, "32FC1": 4, "rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}


def camera_info_topic(image_topic: str) -> str:
    """image_transport's rule: the CameraInfo beside ``<ns>/<image>`` is ``<ns>/camera_info``."""
    namespace = image_topic.rsplit("/", 1)[0] if "/" in image_topic else ""
    return f"{namespace}/camera_info" if namespace else "camera_info"


def check_image_with_info(image, info) -> list[str]:
    """What a CameraSubscriber consumer would refuse (empty list: accepted)."""
    problems = []
    stamp = conversions.stamp_to_ns(image.header.stamp)
    info_stamp = conversions.stamp_to_ns(info.header.stamp)
    if stamp != info_stamp:
        problems.append(f"stamps differ: image {stamp}, camera_info {info_stamp}")
    if not image.header.frame_id or image.header.frame_id != info.header.frame_id:
        problems.append(f"frames: image {image.header.frame_id!r}, camera_info {info.header.frame_id!r}")
    if (image.width, image.height) != (info.width, info.height):
        problems.append(f"size: image {image.width}x{image.height}, camera_info {info.width}x{info.height}")
    expected_step = image.width * BYTES_PER_PIXEL.get(image.encoding, 0)
    if image.step != expected_step:
        problems.append(f"step {image.step}, expected {expected_step} ({image.encoding})")
    if bool(image.is_bigendian) != (sys.byteorder == "big") and BYTES_PER_PIXEL.get(image.encoding, 1) > 1:
        problems.append("byte order is not the host's")
    fx, cx, fy, cy = info.p[0], info.p[2], info.p[5], info.p[6]
    if not (fx > 0 and fy > 0 and 0 <= cx <= info.width and 0 <= cy <= info.height):
        problems.append(f"projection P does not fit the image: fx {fx} fy {fy} cx {cx} cy {cy}")
    return problems


def check_depth_image(image) -> list[str]:
    """depth_image_proc / DepthCloud on a depth image: encoding and the "no value" convention."""
    if image.encoding not in DEPTH_ENCODINGS:
        return [f"depth encoding {image.encoding!r} is not one of {DEPTH_ENCODINGS}"]
    if image.encoding == "32FC1":
        values = conversions.image_to_array(image)
        zeros = int((values == 0.0).sum())
        if zeros:
            return [f"{zeros} pixels are 0.0: taken as valid depth (points at the camera origin); use NaN"]
        if np.isfinite(values).any() and np.nanmin(values) < 0:
            return ["negative depth"]
    return []


def check_rgb_for_depth(rgb, depth) -> list[str]:
    """point_cloud_xyzrgb / DepthCloud colouring: RGB at the depth image's resolution."""
    problems = []
    if rgb.encoding not in RGB_ENCODINGS:
        problems.append(f"RGB encoding {rgb.encoding!r} is not one of {RGB_ENCODINGS}")
    if (rgb.width, rgb.height) != (depth.width, depth.height):
        problems.append(
            f"Depth resolution ({depth.width}x{depth.height}) does not match RGB resolution "
            f"({rgb.width}x{rgb.height})"
        )
    return problems
