"""Which topics of a bag hold the camera image, its CameraInfo, the LiDAR cloud and ground truth.

Detection is by message type (the camera: an Image, else a jpeg/png CompressedImage), then by name
where a type has several topics:
ground-truth depth is an Image whose name says so (``ground_truth``, ``groundtruth``, ``gt``);
outputs of the node (``completion``, ``depth/...``, ``confidence``) are recognised by name and never
taken as inputs. Any choice can be given explicitly instead.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from nlspn_ros.bag.errors import BagError
from nlspn_ros.bag.types import CAMERA_INFO, COMPRESSED_IMAGE, DEPTH_COMPLETION, IMAGE, POINT_CLOUD2

GROUND_TRUTH_NAME = re.compile(r"ground_?truth|(^|[/_])gt($|[/_])", re.IGNORECASE)
# the node's outputs (docs/node.md): its exact `rgb/image` name, so that a camera's own
# rgb/image_raw and rgb/camera_info stay inputs (camera_info is picked in the image's namespace)
OUTPUT_NAME = re.compile(
    r"(^|/)(completion|depth|confidence|sparse_depth)(/|$)|(^|/)depth_|_depth$|(^|/)rgb/image$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class BagTopics:
    """Input topics (image, camera_info, points), optional ground truth and recorded node outputs."""

    image: str | None
    camera_info: str | None
    points: str | None
    ground_truth: str | None = None
    completion: str | None = None  # nlspn_ros/DepthCompletion recorded from a live node
    depth: str | None = None  # dense depth Image recorded from a live node

    def inputs(self) -> tuple[str, str, str]:
        missing = [n for n in ("image", "camera_info", "points") if getattr(self, n) is None]
        if missing:
            option = missing[0].replace("_", "-")
            raise BagError(f"bag has no {', '.join(missing)} topic (give it with --{option})")
        return self.image, self.camera_info, self.points  # type: ignore[return-value]


def _pick(kind: str, candidates: list[str], prefer: str | None = None) -> str | None:
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    if prefer:
        preferred = [t for t in candidates if t.rsplit("/", 1)[0] == prefer]
        if len(preferred) == 1:
            return preferred[0]
    raise BagError(f"several {kind} topics {sorted(candidates)}: choose one with --{kind.replace('_', '-')}")


def detect_topics(types: dict[str, str], **explicit: str | None) -> BagTopics:
    """``types``: topic -> message type. ``explicit``: BagTopics field -> topic (None = detect)."""
    for field, topic in explicit.items():
        if topic is not None and topic not in types:
            raise BagError(f"--{field.replace('_', '-')} {topic}: not in the bag (topics: {sorted(types)})")
    of_type = {kind: sorted(t for t, m in types.items() if m == kind) for kind in set(types.values())}
    images = of_type.get(IMAGE, [])
    ground_truth = explicit.get("ground_truth") or _pick(
        "ground_truth", [t for t in images if GROUND_TRUTH_NAME.search(t)])
    depth = explicit.get("depth") or _pick(
        "depth", [t for t in images if t != ground_truth and re.search(r"(^|/)depth/image$", t)])
    cameras = [t for t in images if not GROUND_TRUTH_NAME.search(t) and not OUTPUT_NAME.search(t)]
    # a camera recorded only as image_transport's CompressedImage (jpeg/png, decoded like the node's
    # `image_transport: compressed`); where the raw image is recorded too, the raw one is used
    cameras = cameras or [t for t in of_type.get(COMPRESSED_IMAGE, []) if not OUTPUT_NAME.search(t)]
    image = explicit.get("image") or _pick("image", cameras)
    base = image.removesuffix("/compressed") if image else None
    namespace = base.rsplit("/", 1)[0] if base else None
    camera_info = explicit.get("camera_info") or _pick(
        "camera_info", [t for t in of_type.get(CAMERA_INFO, []) if not OUTPUT_NAME.search(t)], namespace)
    points = explicit.get("points") or _pick(
        "points", [t for t in of_type.get(POINT_CLOUD2, []) if not OUTPUT_NAME.search(t)])
    completion = explicit.get("completion") or _pick("completion", of_type.get(DEPTH_COMPLETION, []))
    return BagTopics(image, camera_info, points, ground_truth, completion, depth)
