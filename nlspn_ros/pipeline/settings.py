"""The node's parameters (names, types, defaults, ranges) and the immutable settings built from them.

One table: the frozen dataclasses below. Each field declared with :func:`parameter` is a node
parameter; a field holding a group (``crop``, ``sync``, ``publish``, ``qos``) gives its parameters
a dotted prefix (``sync.slop`` is ``settings.sync.slop``). :data:`PARAMETERS` is that table read
out in declaration order; ``nlspn_ros.ros.node`` declares it with descriptors and, on every
accepted change, builds new :class:`NodeSettings` with :meth:`NodeSettings.changed` (which
validates everything and raises :class:`ValueError` with the reason) and swaps them in whole.
Cross-field rules are the :data:`VALIDATORS` next to the table. docs/node.md lists the same table.

ROS-free.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter
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
UNSET = (0.0,)  # the declared default of the list parameters: "not set"


@dataclass(frozen=True)
class ParameterSpec:
    """One node parameter as ROS declares it: full (dotted) name, default, description, limits."""

    name: str
    default: Any
    description: str
    read_only: bool = False
    min: float | None = None  # numeric range (inclusive) for ints / doubles
    max: float | None = None
    step: float | None = None  # integer ranges: 1
    choices: tuple[str, ...] = ()

    def check(self, value: Any) -> None:
        """:class:`ValueError` when ``value`` is outside the choices or the range."""
        if self.choices and value not in self.choices:
            raise ValueError(f"{self.name} must be one of {list(self.choices)}, got {value!r}")
        if self.min is not None and not (self.min <= value <= self.max):
            raise ValueError(f"{self.name} must be in [{self.min}, {self.max}], got {value}")


def parameter(default: Any, description: str, read_only: bool = False, *, min: float | None = None,
              max: float | None = None, step: float | None = None, choices: tuple[str, ...] = ()) -> Any:
    """A settings field that is a node parameter (its spec rides in the field's metadata).

    List defaults (ROS double arrays) are kept as tuples in the settings, so settings stay immutable.
    """
    spec = {"default": default, "description": description, "read_only": read_only, "min": min,
            "max": max, "step": step, "choices": choices}
    return field(default=tuple(default) if isinstance(default, list) else default,
                 metadata={"parameter": spec})


def group(cls: type) -> Any:
    """A settings field holding a group of parameters (dotted names ``<field>.<name>``)."""
    return field(default_factory=cls, metadata={"group": cls})


# fmt: off
@dataclass(frozen=True)
class CropSettings:
    """The input crop, in input pixels (before ``scale``)."""

    x: int = parameter(0, "input crop: left column", min=0, max=100000, step=1)
    y: int = parameter(0, "input crop: top row", min=0, max=100000, step=1)
    width: int = parameter(0, "input crop width; 0 = to the right edge", min=0, max=100000, step=1)
    height: int = parameter(0, "input crop height; 0 = to the bottom edge", min=0, max=100000, step=1)
    anchor: str = parameter("top_left", "top_left: the crop starts at crop.x, crop.y; bottom_center: the "
                            "width x height window is centred at the bottom of each image, whatever its size "
                            "(crop.x and crop.y stay 0)", choices=CROP_ANCHORS)

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(x, y, width, height) as given (0 width / height: to the edge)."""
        return (self.x, self.y, self.width, self.height)


@dataclass(frozen=True)
class SyncSettings:
    """Approximate-time pairing of image, camera_info and cloud."""

    slop: float = parameter(0.05, "seconds: max |cloud stamp - image stamp| for a pair", min=0.0, max=10.0)
    queue_size: int = parameter(10, "messages waiting per input stream", min=1, max=1000, step=1)
    max_wait: float = parameter(0.5, "seconds (wall clock) an image waits for a cloud stamped at or after "
                                "it before it is paired with the clouds known; 0: wait for one",
                                min=0.0, max=60.0)


@dataclass(frozen=True)
class PublishSettings:
    """The optional outputs (the others are published whenever they have a subscriber)."""

    depth_raw: bool = parameter(False, "publish depth/image_raw (16UC1 millimetres)")
    sparse_depth: bool = parameter(False, "publish sparse_depth/image (projected LiDAR, 32FC1)")
    color: bool = parameter(True, "publish depth/color (rgb8 colour map of the depth)")
    points: bool = parameter(False, "publish depth/points (decimated PointCloud2 x, y, z, rgb)")


@dataclass(frozen=True)
class QosSettings:
    """Quality of service of the input subscriptions and the outputs (read at configure / activate)."""

    input_reliability: str = parameter("best_effort", "inputs: best_effort (sensor data) or reliable", True,
                                       choices=RELIABILITIES)
    input_depth: int = parameter(5, "inputs: history depth", True, min=1, max=1000, step=1)
    output_reliability: str = parameter("reliable", "outputs: best_effort or reliable", True,
                                        choices=RELIABILITIES)
    output_depth: int = parameter(5, "outputs: history depth", True, min=1, max=1000, step=1)


@dataclass(frozen=True)
class NodeSettings:
    """Everything a frame needs, validated; a frame reads one instance from start to end.

    Built from parameter values (:meth:`from_values`, :meth:`changed`) or directly
    (``NodeSettings()`` are the defaults); construction validates (:class:`ValueError`). Besides the
    parameters it holds what they mean: :attr:`extrinsic` and :attr:`model_overrides`.
    """

    method: str = parameter("nlspn", "completer: nlspn (network) or ip_basic (classical, CPU)", True,
                            choices=METHODS)
    checkpoint: str = parameter("", "NLSPN checkpoint file; empty = the embedded default model", True)
    model_config: str = parameter("", "JSON object of NLSPNConfig fields overriding the checkpoint's "
                                  "(e.g. {\"legacy\": true} for the official checkpoints)", True)
    device: str = parameter("auto", f"torch device: {DEVICES_HELP}", True)
    precision: str = parameter("fp32", "fp32, fp16 (CUDA) or bf16", True, choices=PRECISIONS)
    prop_time: int = parameter(-1, "NLSPN propagation steps; -1 = the checkpoint's", min=-1, max=64, step=1)
    confidence_threshold: float = parameter(0.0, "depth whose confidence is below this is published as NaN",
                                            min=0.0, max=1.0)
    min_depth: float = parameter(0.1, "metres: nearer LiDAR points are ignored, nearer output depth is NaN",
                                 min=0.0, max=1000.0)
    max_depth: float = parameter(100.0, "metres: farther LiDAR points are ignored, farther output depth is "
                                 "NaN", min=0.0, max=1000.0)
    crop: CropSettings = group(CropSettings)
    scale: float = parameter(1.0, "resize factor applied after the crop (outputs have the resized size)",
                             min=0.05, max=4.0)
    t_cam_lidar: tuple[float, ...] = parameter([0.0], "LiDAR -> camera optical frame: 16 (4x4) or 12 (3x4) "
                                               "row-major numbers; [0.0] or [] = not set")
    t_cam_lidar_xyz: tuple[float, ...] = parameter([0.0], "translation (m) used with t_cam_lidar_quaternion"
                                                   "_xyzw or t_cam_lidar_rpy; [0.0] = unset")
    t_cam_lidar_quaternion_xyzw: tuple[float, ...] = parameter([0.0], "rotation, ROS quaternion (x, y, z, "
                                                               "w); [0.0] = unset")
    t_cam_lidar_rpy: tuple[float, ...] = parameter([0.0], "rotation as roll, pitch, yaw (rad); [0.0] = unset")
    image_rectified: bool = parameter(True, "true: rectified images (project with CameraInfo P, R); false: "
                                      "raw images (project with K and the distortion D)")
    camera_frame: str = parameter("", "expected image frame_id; empty = accept the image's")
    lidar_frame: str = parameter("", "cloud frame_id the extrinsic is for; empty = accept any")
    tf_timeout: float = parameter(0.05, "seconds to wait for a TF transform at the image's stamp (extrinsic "
                                  "from TF, when no t_cam_lidar* parameter is set)", min=0.0, max=10.0)
    sync: SyncSettings = group(SyncSettings)
    publish: PublishSettings = group(PublishSettings)
    points_decimation: int = parameter(4, "depth/points keeps every Nth pixel in each direction",
                                       min=1, max=64, step=1)
    qos: QosSettings = group(QosSettings)
    image_transport: str = parameter("raw", "input images: raw (sensor_msgs/Image on image) or compressed "
                                     "(sensor_msgs/CompressedImage, jpeg or png, on <image>/compressed)",
                                     True, choices=IMAGE_TRANSPORTS)
    diagnostics_period: float = parameter(1.0, "seconds between /diagnostics messages", True,
                                          min=0.1, max=60.0)
    autostart: bool = parameter(True, "configure and activate at start; false: stay unconfigured until a "
                                "lifecycle transition (lifecycle manager or change_state service)", True)

    # what the parameters mean, set by __post_init__ (not parameters)
    extrinsic: np.ndarray = field(init=False, repr=False, compare=False)  # 4x4 T_cam_lidar, read-only
    model_overrides: dict[str, Any] = field(init=False, repr=False, compare=False)  # parsed model_config
# fmt: on

    def __post_init__(self) -> None:
        for name, value in self.as_values().items():
            BY_NAME[name].check(value)
        for validator in VALIDATORS:
            validator(self)
        try:
            transform = extrinsic_from_settings(self)
        except CalibrationError as exc:
            raise ValueError(str(exc)) from exc
        transform.setflags(write=False)
        object.__setattr__(self, "extrinsic", transform)
        object.__setattr__(self, "model_overrides", _model_overrides(self.model_config))

    @property
    def extrinsic_from_parameters(self) -> bool:
        """True when a ``t_cam_lidar*`` parameter is set: it wins over TF."""
        return any(_is_set(values) for values in (self.t_cam_lidar, self.t_cam_lidar_xyz,
                                                  self.t_cam_lidar_quaternion_xyzw, self.t_cam_lidar_rpy))

    def as_values(self) -> dict[str, Any]:
        """Parameter name (dotted) -> value, in table order."""
        return {spec.name: attrgetter(spec.name)(self) for spec in PARAMETERS}  # "sync.slop": self.sync.slop

    @classmethod
    def defaults(cls) -> NodeSettings:
        return cls()

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> NodeSettings:
        """Settings from a full set of parameter values (dotted names); :class:`ValueError` says what is
        wrong (a missing or unknown name, a value out of range, a rule of :data:`VALIDATORS`)."""
        missing = [name for name in BY_NAME if name not in values]
        if missing:
            raise ValueError(f"missing parameters: {missing}")
        unknown = sorted(set(values) - set(BY_NAME))
        if unknown:
            raise ValueError(f"unknown parameters: {unknown}")
        return _build(cls, values, "")

    def changed(self, updates: dict[str, Any]) -> NodeSettings:
        """New settings with ``updates`` (dotted names) applied, validated as a whole (an unknown name
        included)."""
        return NodeSettings.from_values({**self.as_values(), **updates})


def _fields(cls: type, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field]]:
    """(dotted name, field) of every parameter of ``cls``, groups expanded, in declaration order."""
    for f in dataclasses.fields(cls):
        if "group" in f.metadata:
            yield from _fields(f.metadata["group"], f"{prefix}{f.name}.")
        elif "parameter" in f.metadata:
            yield f"{prefix}{f.name}", f


def _build(cls: type, values: dict[str, Any], prefix: str) -> Any:
    kwargs = {}
    for f in dataclasses.fields(cls):
        if "group" in f.metadata:
            kwargs[f.name] = _build(f.metadata["group"], values, f"{prefix}{f.name}.")
        elif "parameter" in f.metadata:
            value = values[f"{prefix}{f.name}"]
            # ROS gives double arrays as lists or array.array: the settings hold a tuple
            is_list = isinstance(f.metadata["parameter"]["default"], list)
            kwargs[f.name] = tuple(float(v) for v in value) if is_list else value
    return cls(**kwargs)


PARAMETERS: tuple[ParameterSpec, ...] = tuple(
    ParameterSpec(name, **f.metadata["parameter"]) for name, f in _fields(NodeSettings)
)
BY_NAME = {p.name: p for p in PARAMETERS}


def _is_set(values: Any) -> bool:
    """A list parameter is set unless it is the declared default ``[0.0]`` or empty."""
    return tuple(values) != UNSET and len(values) > 0


def extrinsic_from_settings(s: NodeSettings) -> np.ndarray:
    """4x4 T_cam_lidar from the ``t_cam_lidar*`` parameters (one form at most; identity if none)."""
    matrix, xyz, rpy = s.t_cam_lidar, s.t_cam_lidar_xyz, s.t_cam_lidar_rpy
    quat = s.t_cam_lidar_quaternion_xyzw
    forms = [name for name, v in (("t_cam_lidar", matrix), ("quaternion", quat), ("rpy", rpy)) if _is_set(v)]
    if len(forms) > 1:
        raise ValueError(
            f"give the extrinsic in one form only (t_cam_lidar, or xyz + quaternion, or "
            f"xyz + rpy), got {forms}"
        )
    if _is_set(matrix):
        if _is_set(xyz):
            raise ValueError("t_cam_lidar already holds the translation: leave t_cam_lidar_xyz unset")
        return transform_from_matrix(list(matrix))
    translation = list(xyz) if _is_set(xyz) else [0.0, 0.0, 0.0]
    if _is_set(quat):
        return transform_from_quaternion(translation, list(quat))
    if _is_set(rpy):
        if len(rpy) != 3:
            raise ValueError(f"t_cam_lidar_rpy needs 3 numbers, got {len(rpy)}")
        return transform_from_rpy(translation, *rpy)
    if _is_set(xyz):
        raise ValueError("t_cam_lidar_xyz needs t_cam_lidar_quaternion_xyzw or t_cam_lidar_rpy")
    return np.eye(4)


def _model_overrides(model_config: str) -> dict[str, Any]:
    try:
        overrides = json.loads(model_config) if model_config else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"model_config is not JSON: {exc}") from exc
    if not isinstance(overrides, dict):
        raise ValueError("model_config must be a JSON object")
    return overrides


# ---------------------------------------------------------------- cross-field rules (validators)

def crop_anchor_keeps_origin(s: NodeSettings) -> None:
    """A bottom-centred crop places itself in each image: crop.x and crop.y must stay 0."""
    if s.crop.anchor == "bottom_center" and (s.crop.x or s.crop.y):
        raise ValueError("crop.anchor bottom_center places the crop in each image: leave crop.x and "
                         f"crop.y 0 (got {s.crop.x}, {s.crop.y})")


def depth_range_is_ordered(s: NodeSettings) -> None:
    """0 < min_depth < max_depth."""
    if not s.min_depth < s.max_depth:
        raise ValueError(f"min_depth ({s.min_depth}) must be < max_depth ({s.max_depth})")
    if s.min_depth <= 0:
        raise ValueError("min_depth must be > 0")


def device_is_known(s: NodeSettings) -> None:
    """``device`` names a torch device this package can use."""
    device = s.device
    if not (device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())):
        raise ValueError(f"device must be {DEVICES_HELP}, got {device!r}")


# run in this order after the per-parameter checks; then the extrinsic and model_config are parsed
VALIDATORS: tuple[Callable[[NodeSettings], None], ...] = (
    crop_anchor_keeps_origin,
    depth_range_is_ordered,
    device_is_known,
)
