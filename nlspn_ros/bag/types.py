"""The rosbags typestore used by every bag tool: ROS 2 Jazzy plus this package's messages."""
from __future__ import annotations

import functools
import os
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from nlspn_ros.paths import REPO_ROOT

DEPTH_COMPLETION = "nlspn_ros/msg/DepthCompletion"
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
POINT_CLOUD2 = "sensor_msgs/msg/PointCloud2"
TF_MESSAGE = "tf2_msgs/msg/TFMessage"
CLOCK = "rosgraph_msgs/msg/Clock"


def _msg_file(name: str) -> Path:
    """``msg/<name>.msg`` from the source tree, else from an installed ``share/nlspn_ros/msg``."""
    candidates = [REPO_ROOT / "msg" / f"{name}.msg"]
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        candidates.append(Path(prefix) / "share" / "nlspn_ros" / "msg" / f"{name}.msg")
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"message definition {name}.msg not found in: {', '.join(map(str, candidates))}")


@functools.cache
def typestore() -> Typestore:
    """Jazzy's message types plus ``nlspn_ros/msg/DepthCompletion`` (from its .msg text)."""
    store = get_typestore(Stores.ROS2_JAZZY)
    store.register(get_types_from_msg(_msg_file("DepthCompletion").read_text(), DEPTH_COMPLETION))
    return store
