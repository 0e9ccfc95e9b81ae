"""The classical pre-fill of the ``prefill='ip_basic'`` model option: IP-Basic on every sparse map.

IP-Basic (``nlspn_ros.completion.ip_basic.fill_in_fast``) runs in OpenCV on the CPU, image by image; it is a
fixed function of the input (no gradient flows through it), so the same code serves inference
and training. Pixels IP-Basic cannot reach (holes wider than its largest dilation, e.g. a dark car
that returned no points to a 32-beam LiDAR) take their nearest measurement: a pre-fill of 0 there
left the initial depth near zero, and the propagation kept a few centimetres where the surface was
metres away, the near phantom a robot would brake for.
"""

from __future__ import annotations

import numpy as np
import torch

from nlspn_ros.completion.ip_basic import fill_in_fast, nearest_fill

PREFILL_MAX_DEPTH = 100.0  # metres: IP-Basic's inversion depth (its default)


def prefill_depth(sparse: np.ndarray) -> np.ndarray:
    """HxW sparse depth (metres, 0 = none) -> IP-Basic's fill, its holes filled with the nearest
    measurement (all 0 only without any measurement)."""
    sparse = np.nan_to_num(sparse, nan=0.0, posinf=0.0, neginf=0.0)
    filled = fill_in_fast(sparse, PREFILL_MAX_DEPTH)
    holes = filled <= 0
    if holes.any():
        filled[holes] = nearest_fill(sparse)[holes]
    return filled


def ip_basic_prefill(dep: torch.Tensor) -> torch.Tensor:
    """Bx1xHxW sparse depth (metres, 0 = none) -> Bx1xHxW :func:`prefill_depth` on the same device."""
    sparse = dep.detach().float().cpu().numpy()
    filled = np.stack([prefill_depth(s[0])[None] for s in sparse])
    return torch.from_numpy(filled).to(dep.device)
