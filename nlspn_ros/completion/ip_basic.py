"""Classical depth completion: IP-Basic (Ku et al., CRV 2018) and a nearest-neighbour fill.

``IPBasicCompleter`` follows ``fill_in_fast`` of the official code (github kujason/ip_basic,
``depth_map_utils.py``): invert depth (``max_depth - d``) so that near points win the dilations,
dilate with a 5x5 diamond, close small holes, fill remaining gaps with a 7x7 dilation, optionally
extend the top-most measurement of each column to the top of the frame and fill large gaps with a
31x31 dilation, smooth with a median and a bilateral (or masked gaussian) blur, and invert back.
Both completers implement the :class:`nlspn_ros.completion.Completer` protocol (no confidence).
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from nlspn_ros.completion import Completion

FULL_KERNEL_5 = np.ones((5, 5), np.uint8)
FULL_KERNEL_7 = np.ones((7, 7), np.uint8)
FULL_KERNEL_31 = np.ones((31, 31), np.uint8)
DIAMOND_KERNEL_5 = np.array(
    [
        [0, 0, 1, 0, 0],
        [0, 1, 1, 1, 0],
        [1, 1, 1, 1, 1],
        [0, 1, 1, 1, 0],
        [0, 0, 1, 0, 0],
    ],
    dtype=np.uint8,
)
BLUR_TYPES = ("bilateral", "gaussian")
_VALID = 0.1  # the official code's threshold for "has a value" (metres, also after inversion)


def _check_sparse(sparse: np.ndarray) -> np.ndarray:
    sparse = np.asarray(sparse)
    if sparse.ndim != 2:
        raise ValueError(f"sparse depth must be HxW, got shape {sparse.shape}")
    if not np.all(np.isfinite(sparse)):
        raise ValueError("sparse depth contains NaN or inf; use 0 for 'no measurement'")
    return sparse.astype(np.float32, copy=True)


def fill_in_fast(
    sparse: np.ndarray,
    max_depth: float = 100.0,
    extrapolate: bool = True,
    blur_type: str = "bilateral",
) -> np.ndarray:
    """IP-Basic ``fill_in_fast`` on an HxW depth map in metres (0 = none); returns float32 metres.

    Measurements beyond ``max_depth`` are clipped to it (the inversion needs ``d <= max_depth``).
    Pixels the method cannot reach stay 0.

    Args:
        sparse: (H, W) depth in metres, 0 = no measurement (values up to 0.1 m count as none, as
            in the official code); not modified.
        max_depth: the inversion depth, metres.
        extrapolate: extend each column's top-most value to the top row and fill large gaps
            with a 31x31 dilation (the official ``extrapolate``).
        blur_type: ``bilateral`` or ``gaussian`` (a masked gaussian) for the final smoothing.

    Returns:
        (H, W) float32 dense depth in metres, 0 where nothing reached.

    Raises:
        ValueError: an unknown ``blur_type``, ``sparse`` not 2-D, or NaN/inf in it.
    """
    if blur_type not in BLUR_TYPES:
        raise ValueError(f"blur_type must be one of {BLUR_TYPES}, got {blur_type!r}")
    depth = np.minimum(_check_sparse(sparse), np.float32(max_depth))

    valid = depth > _VALID
    depth[valid] = max_depth - depth[valid]

    depth = cv2.dilate(depth, DIAMOND_KERNEL_5)
    depth = cv2.morphologyEx(depth, cv2.MORPH_CLOSE, FULL_KERNEL_5)

    empty = depth < _VALID
    dilated = cv2.dilate(depth, FULL_KERNEL_7)
    depth[empty] = dilated[empty]

    if extrapolate:
        # Extend the top-most value of every column up to row 0 (columns without values stay empty).
        has_value = depth > _VALID
        top_row = np.argmax(has_value, axis=0)
        top_value = depth[top_row, np.arange(depth.shape[1])]
        above = np.arange(depth.shape[0])[:, None] < top_row[None, :]
        depth = np.where(above, top_value[None, :], depth)

        empty = depth < _VALID
        dilated = cv2.dilate(depth, FULL_KERNEL_31)
        depth[empty] = dilated[empty]

    depth = cv2.medianBlur(depth, 5)
    if blur_type == "bilateral":
        depth = cv2.bilateralFilter(depth, 5, 1.5, 2.0)
    else:
        valid = depth > _VALID
        blurred = cv2.GaussianBlur(depth, (5, 5), 0)
        depth[valid] = blurred[valid]

    valid = depth > _VALID
    depth[valid] = max_depth - depth[valid]
    depth[~valid] = 0.0
    return depth.astype(np.float32, copy=False)


def nearest_fill(sparse: np.ndarray) -> np.ndarray:
    """Every pixel takes the depth of its nearest measurement (Euclidean, exact); all 0 if none.

    Args:
        sparse: (H, W) depth in metres; values > 0 are measurements. Not modified.

    Returns:
        (H, W) float32 depth in metres.

    Raises:
        ValueError: ``sparse`` not 2-D, or NaN/inf in it.
    """
    depth = _check_sparse(sparse)
    valid = depth > 0
    if not valid.any():
        return np.zeros_like(depth)
    # distanceTransform measures the distance to the nearest ZERO pixel: make measurements the zeros.
    # With DIST_LABEL_PIXEL each zero pixel gets its own label, numbered 1.. in row-major order.
    _, labels = cv2.distanceTransformWithLabels(
        (~valid).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE, labelType=cv2.DIST_LABEL_PIXEL
    )
    values = np.concatenate([[0.0], depth[valid]]).astype(np.float32)
    return values[labels]


class IPBasicCompleter:
    """IP-Basic ``fill_in_fast`` as a :class:`~nlspn_ros.completion.Completer` (CPU, no confidence).

    ``complete(rgb, sparse)`` ignores the image (its shape is checked) and returns
    ``Completion(depth, None, {"ip_basic": ms})``, depth as :func:`fill_in_fast` gives it.

    Args:
        max_depth: IP-Basic's inversion depth, metres (> 0); farther measurements are clipped
            to it. May be changed between frames.
        extrapolate: as :func:`fill_in_fast`.
        blur_type: as :func:`fill_in_fast`.

    Raises:
        ValueError: an unknown ``blur_type`` or a ``max_depth`` that is not positive.
    """

    name = "ip_basic"
    device = "cpu"
    prop_time = None  # no propagation

    def __init__(self, max_depth: float = 100.0, extrapolate: bool = True, blur_type: str = "bilateral"):
        if blur_type not in BLUR_TYPES:
            raise ValueError(f"blur_type must be one of {BLUR_TYPES}, got {blur_type!r}")
        if max_depth <= 0:
            raise ValueError(f"max_depth must be positive, got {max_depth}")
        self.max_depth = float(max_depth)
        self.extrapolate = extrapolate
        self.blur_type = blur_type

    def complete(self, rgb: np.ndarray, sparse: np.ndarray) -> Completion:
        _check_shapes(rgb, sparse)
        start = time.perf_counter()
        depth = fill_in_fast(sparse, self.max_depth, self.extrapolate, self.blur_type)
        return Completion(depth, None, {"ip_basic": (time.perf_counter() - start) * 1e3})

    def release(self) -> None:
        """Nothing to give back (no model, no device memory)."""


class NearestCompleter:
    """Nearest-measurement fill as a :class:`~nlspn_ros.completion.Completer` (evaluation reference).

    ``complete(rgb, sparse)`` ignores the image (its shape is checked) and returns
    ``Completion(depth, None, {"nearest": ms})``, depth as :func:`nearest_fill` gives it.
    """

    name = "nearest"
    device = "cpu"
    prop_time = None
    max_depth = None

    def complete(self, rgb: np.ndarray, sparse: np.ndarray) -> Completion:
        _check_shapes(rgb, sparse)
        start = time.perf_counter()
        depth = nearest_fill(sparse)
        return Completion(depth, None, {"nearest": (time.perf_counter() - start) * 1e3})

    def release(self) -> None:
        """Nothing to give back."""


def _check_shapes(rgb: np.ndarray, sparse: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be HxWx3, got shape {rgb.shape}")
    if rgb.shape[:2] != sparse.shape:
        raise ValueError(f"rgb {rgb.shape[:2]} and sparse {sparse.shape} sizes differ")
