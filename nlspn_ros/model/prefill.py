"""The classical pre-fill of the ``prefill='ip_basic'`` model option: IP-Basic on every sparse map.

IP-Basic (``nlspn_ros.baseline.fill_in_fast``) runs in OpenCV on the CPU, image by image; it is a
fixed function of the input (no gradient flows through it), so the same code serves inference
and training.
"""

from __future__ import annotations

import numpy as np
import torch

from nlspn_ros.baseline import fill_in_fast

PREFILL_MAX_DEPTH = 100.0  # metres: IP-Basic's inversion depth (its default)


def ip_basic_prefill(dep: torch.Tensor) -> torch.Tensor:
    """Bx1xHxW sparse depth (metres, 0 = none) -> Bx1xHxW IP-Basic fill on the same device, float32."""
    sparse = dep.detach().float().cpu().numpy()
    filled = np.stack(
        [
            fill_in_fast(np.nan_to_num(s[0], nan=0.0, posinf=0.0, neginf=0.0), PREFILL_MAX_DEPTH)[None]
            for s in sparse
        ]
    )
    return torch.from_numpy(filled).to(dep.device)
