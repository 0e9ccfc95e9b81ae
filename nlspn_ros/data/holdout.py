"""Self-supervised targets from the LiDAR itself: held-out pixels or held-out laser rings.

Two protocols, used by evaluation and training alike:

* ``pixels`` (protocol A): a random share of the projected pixels is removed from the input and
  becomes the target.
* ``rings`` (protocol B): every other laser ring is removed (a 64-beam sweep becomes a 32-beam
  input); the removed rings, projected on their own, are the target. A target pixel is never one
  that an input point also hit, so the completer is never scored on what it was given.

KITTI stores a sweep ring by ring, top laser first, each ring starting at azimuth 0 (facing
forward) and turning counter-clockwise: :func:`kitti_rings` recovers the ring of every point from
that order. Clouds with a ``ring`` field give it directly.
"""

from __future__ import annotations

import numpy as np

PROTOCOLS = ("pixels", "rings")
PHANTOM_RATIO = 0.5  # a prediction nearer than half the true depth is a near phantom


def kitti_rings(points: np.ndarray) -> np.ndarray:
    """Ring index (0 = top laser) of every point of a KITTI sweep in its file order.

    Within a ring the azimuth grows from 0 to pi, wraps to -pi and grows back to 0; a wrap marks
    the back half of the ring, so a point after ``w`` wraps is in ring ``w`` if it faces left
    (azimuth >= 0) and in ring ``w - 1`` if it faces right.
    """
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] < 2:
        raise ValueError(f"points must be Nx2 or wider, got shape {points.shape}")
    if len(points) == 0:
        return np.zeros(0, np.int32)
    azimuth = np.arctan2(points[:, 1], points[:, 0])
    wraps = np.concatenate([[0], np.cumsum(np.diff(azimuth) < -np.pi)])
    return np.maximum(wraps - (azimuth < 0), 0).astype(np.int32)


def pixel_holdout(
    sparse: np.ndarray, share: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Protocol A: (input, target) with ``share`` of the valid pixels moved from input to target."""
    if not 0.0 <= share < 1.0:
        raise ValueError(f"holdout share must be in [0, 1), got {share}")
    rows, cols = np.nonzero(sparse > 0)
    chosen = rng.random(rows.size) < share
    target = np.zeros_like(sparse)
    target[rows[chosen], cols[chosen]] = sparse[rows[chosen], cols[chosen]]
    kept = sparse.copy()
    kept[rows[chosen], cols[chosen]] = 0.0
    return kept, target


def held_out_rings(rings: np.ndarray, parity: int) -> np.ndarray:
    """Protocol B: boolean mask of the points whose ring has ``parity`` (0: even rings, 1: odd)."""
    if parity not in (0, 1):
        raise ValueError(f"parity must be 0 or 1, got {parity}")
    return (np.asarray(rings) % 2) == parity


def ring_target(input_sparse: np.ndarray, held_out_sparse: np.ndarray) -> np.ndarray:
    """The held-out rings' depth image without the pixels an input point also hit."""
    return np.where(input_sparse > 0, 0.0, held_out_sparse).astype(held_out_sparse.dtype)


def near_phantoms(prediction: np.ndarray, target: np.ndarray) -> tuple[int, int]:
    """(near phantoms, target pixels): target pixels with an estimate nearer than half their true
    depth. A pixel without an estimate (0 or NaN) is no phantom."""
    valid = target > 0
    estimate = prediction[valid]
    phantom = (estimate > 0) & (estimate < PHANTOM_RATIO * target[valid])  # NaN compares False
    return int(np.count_nonzero(phantom)), int(np.count_nonzero(valid))


def near_phantom_share(prediction: np.ndarray, target: np.ndarray) -> float:
    """Share of the target pixels predicted nearer than half their true depth (NaN without targets)."""
    phantoms, count = near_phantoms(prediction, target)
    return phantoms / count if count else float("nan")


def holdout_split(sparse: np.ndarray, fraction: float, seed: int, stamp_ns: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Protocol A for a recorded frame: the same draw for the same frame in every run.

    Args:
        sparse: (H, W) depth in metres, 0 = no measurement.
        fraction: share of the valid pixels moved to the reference.
        seed: run seed; with ``stamp_ns`` (the frame's stamp, ns) it seeds the draw.

    Returns:
        (input, reference): two (H, W) depth images whose valid pixels partition ``sparse``'s.
    """
    return pixel_holdout(sparse, fraction, np.random.default_rng([seed, stamp_ns]))
