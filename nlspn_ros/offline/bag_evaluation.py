"""Offline evaluation of a bag, no ROS graph: pair, project, complete, score (KITTI metrics).

Two modes, chosen by what the bag holds:

* ``offline`` (sensor topics): image / camera_info / cloud are paired with
  :class:`nlspn_ros.pipeline.pairing.ApproximateTimePairer` and each pair goes through
  :func:`nlspn_ros.pipeline.frame.process_frame` with the node's settings (the node's own code path: crop,
  scale, projection, completion, depth mask), so a live run gives bit-identical depth. The
  reference is the bag's ground-truth depth topic (matched by exact image stamp) when it has one;
  else held-out LiDAR points: of the projected pixels a fraction ``holdout`` (default 0.2) is
  drawn with ``numpy.random.default_rng([seed, image_stamp_ns])`` (default seed 0),
  removed from the input and used as the reference.
* ``recorded`` (a bag recorded from the live node): the node's outputs (``DepthCompletion`` or the
  dense depth Image) are scored against the ground-truth topic, matched by exact header stamp.

A damaged bag stops the stream with a clear error recorded in the result; the frames before the
damage are scored. Messages are streamed: memory stays bounded by the pairing queues.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from nlspn_ros.bag.errors import BagDamagedError, BagError
from nlspn_ros.bag.reader import BagReader
from nlspn_ros.bag.topics import BagTopics, detect_topics
from nlspn_ros.bag.types import TF_MESSAGE
from nlspn_ros.completion import Completer
from nlspn_ros.data.holdout import PROTOCOLS, held_out_rings, holdout_split, near_phantoms, ring_target
from nlspn_ros.metrics import METRIC_NAMES, MetricAccumulator
from nlspn_ros.pipeline import conversions
from nlspn_ros.pipeline.frame import BadInput, mask_depth, prepare_inputs, process_frame, project
from nlspn_ros.pipeline.pairing import ApproximateTimePairer, Dropped, Reset
from nlspn_ros.pipeline.settings import NodeSettings

log = logging.getLogger(__name__)


@dataclass
class FrameResult:
    index: int
    image_stamp_ns: int
    metrics: dict[str, float]
    reference_pixels: int
    cloud_stamp_ns: int | None = None
    input_pixels: int | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class EvaluationResult:
    bag: str
    mode: str  # "offline" or "recorded"
    method: str
    reference: str
    topics: dict[str, str | None]
    frames: list[FrameResult] = field(default_factory=list)
    overall: dict[str, float] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FrameData:
    """What the panels show for one frame (all HxW float32 metres except ``rgb``)."""

    rgb: np.ndarray | None
    sparse: np.ndarray | None
    dense: np.ndarray
    confidence: np.ndarray | None
    reference: np.ndarray


def _rings(cloud: Any) -> np.ndarray:
    try:
        return conversions.cloud_field(cloud, "ring")
    except conversions.MessageFormatError as exc:
        raise BadInput("cloud", f"protocol rings: {exc}") from exc


def reference_in_output(reference: np.ndarray, settings: NodeSettings) -> np.ndarray:
    """A full-size ground-truth image cropped and scaled as the node's ``crop.*`` / ``scale`` do to the input
    (nearest neighbour, so sparse references stay exact samples)."""
    x, y, width, height = settings.crop.box
    rows, cols = reference.shape
    reference = reference[y: y + (height or rows - y), x: x + (width or cols - x)]
    scale = settings.scale
    if scale != 1.0:
        size = (round(reference.shape[1] * scale), round(reference.shape[0] * scale))
        reference = cv2.resize(np.ascontiguousarray(reference), size, interpolation=cv2.INTER_NEAREST)
    return reference


def depth_from_output(msg: Any) -> tuple[np.ndarray, np.ndarray | None, Any]:
    """(depth with 0 = no estimate, confidence or None, header) of a recorded node output."""
    if hasattr(msg, "depth"):  # nlspn_ros/DepthCompletion
        image, confidence_msg = msg.depth, msg.confidence
        confidence = (conversions.image_to_array(confidence_msg).astype(np.float32)
                      if confidence_msg.height and confidence_msg.width else None)
    else:
        image, confidence = msg, None
    depth = np.nan_to_num(conversions.depth_image_to_metres(image), nan=0.0)
    return depth, confidence, msg.header


def _stamp(msg: Any) -> int:
    return conversions.stamp_to_ns(msg.header.stamp)


class _GroundTruth:
    """Ground-truth images waiting for their frame, by stamp (older ones are let go)."""

    def __init__(self) -> None:
        self.by_stamp: dict[int, np.ndarray] = {}

    def add(self, msg: Any) -> None:
        self.by_stamp[_stamp(msg)] = np.nan_to_num(conversions.depth_image_to_metres(msg), nan=0.0)

    def take(self, stamp_ns: int) -> np.ndarray | None:
        found = self.by_stamp.pop(stamp_ns, None)
        for old in [s for s in self.by_stamp if s < stamp_ns]:
            del self.by_stamp[old]
        return found


def transform_from_tf(reader: BagReader, topics: BagTopics) -> np.ndarray | None:
    """T_cam_lidar from a /tf_static TFMessage in the bag (parent: the image's frame, child: the
    cloud's), or None. Only a direct transform between the two frames is used (no chaining)."""
    import transforms3d

    tf_topics = [t for t, m in reader.topics.items() if m == TF_MESSAGE and "static" in t]
    if not tf_topics:
        return None
    frames = {}
    for name, topic in (("camera", topics.image), ("lidar", topics.points)):
        first = next(reader.messages([topic]), None)
        frames[name] = first.msg.header.frame_id if first else None
    for message in reader.messages(tf_topics):
        for stamped in message.msg.transforms:
            if stamped.header.frame_id == frames["camera"] and stamped.child_frame_id == frames["lidar"]:
                q, t = stamped.transform.rotation, stamped.transform.translation
                matrix = np.eye(4)
                matrix[:3, :3] = transforms3d.quaternions.quat2mat([q.w, q.x, q.y, q.z])
                matrix[:3, 3] = [t.x, t.y, t.z]
                return matrix
    return None


class Evaluator:
    """Evaluate one bag; ``frame_callback(result, data)`` sees every scored frame (for panels)."""

    def __init__(self, bag: str | Path, *, completer: Completer | None = None,
                 settings: NodeSettings | None = None, holdout: float = 0.2, seed: int = 0,
                 mode: str = "auto", protocol: str = "pixels", **topic_overrides: str | None) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
        self.protocol = protocol
        self.reader = BagReader(bag)
        self._dropped: dict[str, int] = {}
        self.topics = detect_topics(self.reader.topics, **topic_overrides)
        recorded = self.topics.completion or self.topics.depth
        self.mode = ("recorded" if recorded else "offline") if mode == "auto" else mode
        if self.mode == "recorded" and not (recorded and self.topics.ground_truth):
            raise BagError(f"{bag}: scoring recorded outputs needs a node output topic and a ground-truth "
                           f"topic (found {self.topics})")
        if self.mode == "offline":
            self.topics.inputs()
        self.completer = completer
        self.settings = NodeSettings.defaults() if settings is None else settings
        self.holdout, self.seed = holdout, seed

    @property
    def reference(self) -> str:
        if self.topics.ground_truth:
            return f"ground truth topic {self.topics.ground_truth}"
        if self.protocol == "rings":
            return "held-out laser rings (the odd values of the clouds' ring field)"
        return f"held-out LiDAR pixels (fraction {self.holdout}, rng([{self.seed}, image stamp ns]))"

    def expected_frames(self) -> int | None:
        topic = self.topics.image if self.mode == "offline" else (self.topics.completion or self.topics.depth)
        return self.reader.message_counts.get(topic)

    def run(self, frame_callback: Callable[[FrameResult, FrameData], None] | None = None,
            progress: Callable[[], None] | None = None) -> EvaluationResult:
        method = getattr(self.completer, "name", "recorded") if self.mode == "offline" else "live node"
        result = EvaluationResult(str(self.reader.path), self.mode, method, self.reference,
                                  asdict(self.topics))
        accumulator = MetricAccumulator()
        phantoms = targets = 0
        frames = self._offline() if self.mode == "offline" else self._recorded()
        try:
            for frame, data in frames:
                frame.index = len(result.frames)
                frame.metrics = accumulator.add(data.dense, data.reference)
                frame_phantoms, frame_targets = near_phantoms(data.dense, data.reference)
                frame.metrics["near_phantom"] = (frame_phantoms / frame_targets if frame_targets
                                                 else float("nan"))
                phantoms, targets = phantoms + frame_phantoms, targets + frame_targets
                result.frames.append(frame)
                if frame_callback is not None:
                    frame_callback(frame, data)
                if progress is not None:
                    progress()
        except BagDamagedError as err:
            result.error = str(err)
            log.error("%s; scored the %d frames before the damage", err, len(result.frames))
        nan = dict.fromkeys(METRIC_NAMES, float("nan"))
        result.overall = accumulator.mean() if accumulator.frames else nan
        result.overall["near_phantom"] = phantoms / targets if targets else float("nan")
        result.dropped.update(self._dropped)
        return result

    def _offline(self) -> Iterator[tuple[FrameResult, FrameData]]:
        if self.completer is None:
            raise ValueError("offline evaluation needs a completer")
        pairer = ApproximateTimePairer(self.settings.sync.slop, self.settings.sync.queue_size)
        image, info, points = self.topics.inputs()
        streams = {image: "image", info: "camera_info", points: "cloud"}
        ground_truth = _GroundTruth()
        wanted = [*streams, *([self.topics.ground_truth] if self.topics.ground_truth else [])]
        self._dropped = {}
        damage = None
        try:
            for message in self.reader.messages(wanted):
                if message.topic == self.topics.ground_truth:
                    ground_truth.add(message.msg)
                    continue
                for event in pairer.add(streams[message.topic], _stamp(message.msg), message.msg):
                    yield from self._offline_event(event, ground_truth)
        except BagDamagedError as err:
            damage = err  # still score the frames that were complete before it
        for event in pairer.flush():
            yield from self._offline_event(event, ground_truth)
        if damage is not None:
            raise damage

    def _drop(self, key: str) -> None:
        self._dropped[key] = self._dropped.get(key, 0) + 1

    def _offline_event(self, event: Any, ground_truth: _GroundTruth
                       ) -> Iterator[tuple[FrameResult, FrameData]]:
        if isinstance(event, Dropped):
            self._drop(f"{event.stream}:{event.reason}")
            return
        if isinstance(event, Reset):
            log.warning("%s", event)
            return
        assert self.completer is not None
        image, info, cloud = event.image, event.camera_info, event.cloud
        try:
            if self.topics.ground_truth:
                reference = ground_truth.take(event.image_ns)
                if reference is None:
                    self._drop("image:no_ground_truth")
                    return
                reference = reference_in_output(reference, self.settings)
                out = process_frame(image, info, cloud, self.settings, self.completer)
                rgb, inputs, depth, confidence = out.rgb, out.sparse, out.depth, out.confidence
                timings = out.timings_ms
            else:
                rgb, camera, xyz = prepare_inputs(image, info, cloud, self.settings)
                if self.protocol == "rings":
                    held = held_out_rings(_rings(cloud), 1)
                    inputs = project(xyz[~held], camera, self.settings).depth
                    reference = ring_target(inputs, project(xyz[held], camera, self.settings).depth)
                else:
                    sparse = project(xyz, camera, self.settings).depth
                    inputs, reference = holdout_split(sparse, self.holdout, self.seed, event.image_ns)
                completion = self.completer.complete(rgb, inputs)
                depth = mask_depth(completion.depth, completion.confidence, self.settings)
                confidence, timings = completion.confidence, completion.timings_ms
        except BadInput as err:
            log.warning("frame at %d ns skipped: %s", event.image_ns, err)
            self._drop(f"bad_input:{err.kind}")
            return
        if reference.shape != depth.shape:
            log.warning("frame at %d ns skipped: ground truth %s does not match the output %s",
                        event.image_ns, reference.shape, depth.shape)
            self._drop("image:ground_truth_shape")
            return
        dense = np.nan_to_num(depth, nan=0.0)
        frame = FrameResult(0, event.image_ns, {}, int((reference > 0).sum()), event.cloud_ns,
                            int((inputs > 0).sum()), dict(timings))
        yield frame, FrameData(rgb, inputs, dense, confidence, reference)

    def _recorded(self) -> Iterator[tuple[FrameResult, FrameData]]:
        output = self.topics.completion or self.topics.depth
        ground_truth = _GroundTruth()
        self._dropped = {}
        for message in self.reader.messages([output, self.topics.ground_truth]):
            if message.topic == self.topics.ground_truth:
                ground_truth.add(message.msg)
                continue
            depth, confidence, header = depth_from_output(message.msg)
            stamp = conversions.stamp_to_ns(header.stamp)
            reference = ground_truth.take(stamp)
            if reference is None:
                self._drop("output:no_ground_truth")
                continue
            reference = reference_in_output(reference, self.settings)
            if reference.shape != depth.shape:
                log.warning("output at %d ns skipped: ground truth %s (after crop/scale) does not match the "
                            "output %s", stamp, reference.shape, depth.shape)
                self._drop("output:ground_truth_shape")
                continue
            # the DepthCompletion field: node clock at publication - image stamp (sim time under replay)
            latency = getattr(message.msg, "latency_ms", None)
            timings = {} if latency is None else {"completion.latency_ms": float(latency)}
            frame = FrameResult(0, stamp, {}, int((reference > 0).sum()), timings_ms=timings)
            yield frame, FrameData(None, None, depth, confidence, reference)
