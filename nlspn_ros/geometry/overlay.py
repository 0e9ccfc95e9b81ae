"""Sparse depth drawn over its image, for looking at a projection (near = warm, far = cool)."""
from __future__ import annotations

import cv2
import numpy as np


def draw_depth_overlay(
    image_bgr: np.ndarray, depth: np.ndarray, max_depth: float | None = None, radius: int = 1
) -> np.ndarray:
    """A copy of ``image_bgr`` (HxWx3 uint8) with a dot per non-zero pixel of ``depth`` (HxW metres).

    Colour: OpenCV's turbo map on log depth between the nearest point and ``max_depth`` (default:
    the farthest point), red near, blue far. Far points are drawn first, so near ones stay on top.
    """
    if image_bgr.ndim != 3 or image_bgr.shape[:2] != depth.shape:
        raise ValueError(f"image {image_bgr.shape} and depth {depth.shape} sizes differ")
    canvas = np.ascontiguousarray(image_bgr, dtype=np.uint8).copy()
    rows, cols = np.nonzero(depth > 0)
    if rows.size == 0:
        return canvas
    values = depth[rows, cols]
    near, far = float(values.min()), float(max_depth) if max_depth else float(values.max())
    nearness = 1.0 - np.log(values / near) / max(np.log(far / near), 1e-6)
    nearness = np.clip(nearness, 0.0, 1.0)
    colours = cv2.applyColorMap((nearness * 255).astype(np.uint8).reshape(-1, 1), cv2.COLORMAP_TURBO)
    for i in np.argsort(-values, kind="stable"):
        cv2.circle(canvas, (int(cols[i]), int(rows[i])), radius, colours[i, 0].tolist(), -1)
    return canvas
