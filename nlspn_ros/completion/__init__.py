"""Depth completers: the interface every completer offers the node and the offline tools (here).

Implementations: :mod:`.nlspn` (the network on a device), :mod:`.ip_basic` (IP-Basic and nearest
fill, classical), :mod:`.factory` (the completer a node's settings ask for). This module stays light
(numpy only): importing it loads no implementation.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass
class Completion:
    """Dense output for one frame, at the input's size.

    Attributes:
        depth: (H, W) float32 metres, 0 where the completer has no estimate.
        confidence: (H, W) float32 in 0..1, or None when the completer has none.
        timings_ms: stage name -> wall milliseconds spent in this call (names per completer).
    """

    depth: np.ndarray
    confidence: np.ndarray | None
    timings_ms: dict[str, float] = field(default_factory=dict)


class Completer(Protocol):
    """``complete(rgb, sparse)``: rgb HxWx3 uint8 (RGB order), sparse HxW float32 metres (0 = none).

    Attributes:
        name: short method name (``nlspn``, ``ip_basic``, ``nearest``).
        device: where it runs, a torch device string (``cpu``, ``cuda:0``).
        prop_time: propagation steps, settable between frames; None for a completer without
            propagation (IP-Basic, nearest).
        max_depth: metres, the depth limit the completer applies itself, settable between frames;
            None when it has none (the caller masks the output).
    """

    name: str
    device: str
    prop_time: int | None
    max_depth: float | None

    def complete(self, rgb: np.ndarray, sparse: np.ndarray) -> Completion:
        """Dense depth for one frame.

        Args:
            rgb: (H, W, 3) uint8 image, RGB order.
            sparse: (H, W) float32 projected LiDAR depth in metres, 0 = no measurement.

        Returns:
            The :class:`Completion` at (H, W).
        """
        ...

    def release(self) -> None:
        """Give back what the completer holds (model weights, cached device memory); it cannot
        complete afterwards. A ``complete`` still running in another thread finishes first."""
        ...
