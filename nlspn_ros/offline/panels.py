"""PNG panels for one evaluated frame: image, sparse input, dense output, confidence, error."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from nlspn_ros.offline.bag_evaluation import FrameData


def _colour(values: np.ndarray, valid: np.ndarray, top: float, colormap: int) -> np.ndarray:
    scaled = np.clip(np.nan_to_num(values) / max(top, 1e-6), 0.0, 1.0)
    bgr = cv2.applyColorMap((scaled * 255).astype(np.uint8), colormap)
    bgr[~valid] = 0
    return bgr


def _dilate(bgr: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Make single-pixel samples visible: grow each valid pixel to 3x3."""
    grown = cv2.dilate(bgr, np.ones((3, 3), np.uint8))
    return np.where(cv2.dilate(valid.astype(np.uint8), np.ones((3, 3), np.uint8))[..., None] > 0, grown, 0)


def _label(bgr: np.ndarray, text: str) -> np.ndarray:
    bgr = np.ascontiguousarray(bgr)
    (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
    cv2.rectangle(bgr, (0, 0), (width + 8, height + 8), (0, 0, 0), -1)
    cv2.putText(bgr, text, (4, height + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return bgr


def render_panels(data: FrameData, title: str) -> np.ndarray:
    """BGR uint8 image: the frame's panels stacked vertically (those the data has)."""
    dense = np.nan_to_num(data.dense)
    reference = data.reference
    has_reference = reference > 0
    top = float(np.percentile(reference[has_reference], 99)) if has_reference.any() else float(dense.max())
    tiles = []
    if data.rgb is not None:
        tiles.append(_label(data.rgb[..., ::-1], f"{title}: image"))
    if data.sparse is not None:
        sparse_valid = data.sparse > 0
        sparse = _dilate(_colour(data.sparse, sparse_valid, top, cv2.COLORMAP_TURBO), sparse_valid)
        tiles.append(_label(sparse, f"sparse input ({int(sparse_valid.sum())} px)"))
    tiles.append(_label(_colour(dense, dense > 0, top, cv2.COLORMAP_TURBO), f"dense depth (0..{top:.0f} m)"))
    if data.confidence is not None:
        tiles.append(_label(_colour(data.confidence, np.ones_like(dense, bool), 1.0, cv2.COLORMAP_VIRIDIS),
                            "confidence (0..1)"))
    error = np.where(has_reference, np.abs(dense - reference), 0.0)
    tiles.append(_label(_dilate(_colour(error, has_reference, 2.0, cv2.COLORMAP_HOT), has_reference),
                        "|error| vs reference (0..2 m)"))
    return np.vstack(tiles)


def write_panels(path: Path, data: FrameData, title: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), render_panels(data, title)):
        raise OSError(f"cannot write {path}")
    return path
