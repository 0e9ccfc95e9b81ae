"""The node's parameters (names, types, defaults, ranges) and the immutable settings built from them.

ROS-free: ``nlspn_ros.ros.node`` declares :data:`PARAMETERS` with descriptors and, on every
accepted change, builds a new :class:`NodeSettings` with :meth:`NodeSettings.from_values`
(which validates everything and raises :class:`ValueError` with the reason) and swaps it in whole.
docs/node.md lists the same table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from nlspn_ros.geometry import (
    CalibrationError,
    transform_from_matrix,
    transform_from_quaternion,
    transform_from_rpy,
)

METHODS = ("nlspn", "ip_basic")
DEVICES_HELP = "auto, cpu, cuda or cuda:N"
PRECISIONS = ("fp32", "fp16", "bf16")
RELIABILITIES = ("best_effort", "reliable")
CROP_ANCHORS = ("top_left", "bottom_center")
IMAGE_TRANSPORTS = ("raw", "compressed")


@dataclass(frozen=True)
class Parameter:
    name: str
    default: Any
    description: str
    read_only: bool = False
    min: float | None = None  # numeric range (inclusive) for ints / doubles
    max: float | None = None
    step: float | None = None  # integer ranges: 1
    choices: tuple[str, ...] = ()


# fmt: off
PARAMETERS: tuple[Parameter, ...] = (
    Parameter("method", "nlspn", "completer: nlspn (network) or ip_basic (classical, CPU)", True,
              choices=METHODS),
    Parameter("checkpoint", "", "NLSPN checkpoint file; empty = the embedded default model", True),
    Parameter("model_config", "", "JSON object of NLSPNConfig fields overriding the checkpoint's "
              "(e.g. {\"legacy\": true} for the official checkpoints)", True),
    Parameter("device", "auto", f"torch device: {DEVICES_HELP}", True),
    Parameter("precision", "fp32", "fp32, fp16 (CUDA) or bf16", True, choices=PRECISIONS),
    Parameter("prop_time", -1, "NLSPN propagation steps; -1 = the checkpoint's",
              min=-1, max=64, step=1),
    Parameter("confidence_threshold", 0.0, "depth whose confidence is below this is published as NaN",
              min=0.0, max=1.0),
    Parameter("min_depth", 0.1, "metres: nearer LiDAR points are ignored, nearer output depth is NaN",
              min=0.0, max=1000.0),
    Parameter("max_depth", 100.0, "metres: farther LiDAR points are ignored, farther output depth is NaN",
              min=0.0, max=1000.0),
    Parameter("crop.x", 0, "input crop: left column", min=0, max=100000, step=1),
    Parameter("crop.y", 0, "input crop: top row", min=0, max=100000, step=1),
    Parameter("crop.width", 0, "input crop width; 0 = to the right edge", min=0, max=100000, step=1),
    Parameter("crop.height", 0, "input crop height; 0 = to the bottom edge", min=0, max=100000, step=1),
    Parameter("crop.anchor", "top_left", "top_left: the crop starts at crop.x, crop.y; bottom_center: the "
              "width x height window is centred at the bottom of each image, whatever its size (crop.x "
              "and crop.y stay 0)", choices=CROP_ANCHORS),
    Parameter("scale", 1.0, "resize factor applied after the crop (outputs have the resized size)",
              min=0.05, max=4.0),
    Parameter("t_cam_lidar", [0.0], "LiDAR -> camera optical frame: 16 (4x4) or 12 (3x4) row-major "
              "numbers; [0.0] or [] = not set"),
    Parameter("t_cam_lidar_xyz", [0.0], "translation (m) used with t_cam_lidar_quaternion_xyzw or "
              "t_cam_lidar_rpy; [0.0] = unset"),
    Parameter("t_cam_lidar_quaternion_xyzw", [0.0], "rotation, ROS quaternion (x, y, z, w); [0.0] = unset"),
    Parameter("t_cam_lidar_rpy", [0.0], "rotation as roll, pitch, yaw (rad); [0.0] = unset"),
    Parameter("image_rectified", True, "true: rectified images (project with CameraInfo P, R); false: raw "
              "images (project with K and the distortion D)"),
    Parameter("camera_frame", "", "expected image frame_id; empty = accept the image's"),
    Parameter("lidar_frame", "", "cloud frame_id the extrinsic is for; empty = accept any"),
    Parameter("tf_timeout", 0.05, "seconds to wait for a TF transform at the image's stamp (extrinsic "
              "from TF, when no t_cam_lidar* parameter is set)", min=0.0, max=10.0),
    Parameter("sync.slop", 0.05, "seconds: max |cloud stamp - image stamp| for a pair", min=0.0, max=10.0),
    Parameter("sync.queue_size", 10, "messages waiting per input stream", min=1, max=1000, step=1),
    Parameter("sync.max_wait", 0.5, "seconds (wall clock) an image waits for a cloud stamped at or after "
              "it before it is paired with the clouds known; 0: wait for one", min=0.0, max=60.0),
    Parameter("publish.depth_raw", False, "publish depth/image_raw (16UC1 millimetres)"),
    Parameter("publish.sparse_depth", False, "publish sparse_depth/image (projected LiDAR, 32FC1)"),
    Parameter("publish.color", True, "publish depth/color (rgb8 colour map of the depth)"),
    Parameter("publish.points", False, "publish depth/points (decimated PointCloud2 x, y, z, rgb)"),
    Parameter("points_decimation", 4, "depth/points keeps every Nth pixel in each direction",
              min=1, max=64, step=1),
    Parameter("qos.input_reliability", "best_effort", "inputs: best_effort (sensor data) or reliable", True,
              choices=RELIABILITIES),
    Parameter("qos.input_depth", 5, "inputs: history depth", True, min=1, max=1000, step=1),
    Parameter("qos.output_reliability", "reliable", "outputs: best_effort or reliable", True,
              choices=RELIABILITIES),
    Parameter("qos.output_depth", 5, "outputs: history depth", True, min=1, max=1000, step=1),
    Parameter("image_transport", "raw", "input images: raw (sensor_msgs/Image on image) or compressed "
              "(sensor_msgs/CompressedImage, jpeg or png, on <image>/compressed)", True,
              choices=IMAGE_TRANSPORTS),
    Parameter("diagnostics_period", 1.0, "seconds between /diagnostics messages", True, min=0.1, max=60.0),
    Parameter("autostart", True, "configure and activate at start; false: stay unconfigured until a "
              "lifecycle transition (lifecycle manager or change_state service)", True),
)
# fmt: on
BY_NAME = {p.name: p for p in PARAMETERS}
UNSET = [0.0]


def _is_set(values: Any) -> bool:
    """A list parameter is set unless it is the declared default ``[0.0]`` or empty."""
    return list(values) != UNSET and len(values) > 0


EXTRINSIC_PARAMETERS = ("t_cam_lidar", "t_cam_lidar_xyz", "t_cam_lidar_quaternion_xyzw", "t_cam_lidar_rpy")


def extrinsic_from_values(values: dict[str, Any]) -> np.ndarray:
    """4x4 T_cam_lidar from the ``t_cam_lidar*`` parameters (one form at most; identity if none)."""
    matrix = values["t_cam_lidar"]
    xyz, quat, rpy = (
        values["t_cam_lidar_xyz"],
        values["t_cam_lidar_quaternion_xyzw"],
        values["t_cam_lidar_rpy"],
    )
    forms = [name for name, v in (("t_cam_lidar", matrix), ("quaternion", quat), ("rpy", rpy)) if _is_set(v)]
    if len(forms) > 1:
        raise ValueError(
            f"give the extrinsic in one form only (t_cam_lidar, or xyz + quaternion, or "
            f"xyz + rpy), got {forms}"
        )
    if _is_set(matrix):
        if _is_set(xyz):
            raise ValueError("t_cam_lidar already holds the translation: leave t_cam_lidar_xyz unset")
        return transform_from_matrix(matrix)
    translation = list(xyz) if _is_set(xyz) else [0.0, 0.0, 0.0]
    if _is_set(quat):
        return transform_from_quaternion(translation, quat)
    if _is_set(rpy):
        if len(rpy) != 3:
            raise ValueError(f"t_cam_lidar_rpy needs 3 numbers, got {len(rpy)}")
        return transform_from_rpy(translation, *rpy)
    if _is_set(xyz):
        raise ValueError("t_cam_lidar_xyz needs t_cam_lidar_quaternion_xyzw or t_cam_lidar_rpy")
    return np.eye(4)


@dataclass(frozen=True)
class NodeSettings:
    """Everything a frame needs, validated; a frame reads one instance from start to end."""

    values: dict[str, Any]  # parameter name -> value (a private copy)
    t_cam_lidar: np.ndarray  # 4x4, read-only
    model_overrides: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @property
    def extrinsic_from_parameters(self) -> bool:
        """True when a ``t_cam_lidar*`` parameter is set: it wins over TF."""
        return any(_is_set(self.values[name]) for name in EXTRINSIC_PARAMETERS)

    @property
    def crop(self) -> tuple[int, int, int, int]:
        return (self["crop.x"], self["crop.y"], self["crop.width"], self["crop.height"])

    @classmethod
    def defaults(cls) -> NodeSettings:
        return cls.from_values({p.name: p.default for p in PARAMETERS})

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> NodeSettings:
        """Validate a full set of parameter values; :class:`ValueError` says what is wrong."""
        missing = [p.name for p in PARAMETERS if p.name not in values]
        if missing:
            raise ValueError(f"missing parameters: {missing}")
        values = {p.name: values[p.name] for p in PARAMETERS}
        for p in PARAMETERS:
            value = values[p.name]
            if p.choices and value not in p.choices:
                raise ValueError(f"{p.name} must be one of {list(p.choices)}, got {value!r}")
            if p.min is not None and not (p.min <= value <= p.max):
                raise ValueError(f"{p.name} must be in [{p.min}, {p.max}], got {value}")
        if values["crop.anchor"] == "bottom_center" and (values["crop.x"] or values["crop.y"]):
            raise ValueError("crop.anchor bottom_center places the crop in each image: leave crop.x and "
                             f"crop.y 0 (got {values['crop.x']}, {values['crop.y']})")
        if not values["min_depth"] < values["max_depth"]:
            raise ValueError(f"min_depth ({values['min_depth']}) must be < max_depth ({values['max_depth']})")
        if values["min_depth"] <= 0:
            raise ValueError("min_depth must be > 0")
        device = values["device"]
        if not (device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())):
            raise ValueError(f"device must be {DEVICES_HELP}, got {device!r}")
        try:
            overrides = json.loads(values["model_config"]) if values["model_config"] else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"model_config is not JSON: {exc}") from exc
        if not isinstance(overrides, dict):
            raise ValueError("model_config must be a JSON object")
        try:
            transform = extrinsic_from_values(values)
        except CalibrationError as exc:
            raise ValueError(str(exc)) from exc
        transform.setflags(write=False)
        return cls(values, transform, overrides)

    def changed(self, updates: dict[str, Any]) -> NodeSettings:
        """New settings with ``updates`` applied (validated as a whole)."""
        unknown = sorted(set(updates) - set(BY_NAME))
        if unknown:
            raise ValueError(f"unknown parameters: {unknown}")
        return NodeSettings.from_values({**self.values, **updates})
