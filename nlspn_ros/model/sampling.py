"""Bilinear sampling at fractional positions as a precomputed gather ("sampling plan").

The official NLSPN samples every neighbour with a modulated deformable convolution
(bilinear, zero outside the image) in each of its ``prop_time`` iterations. The sampling
positions and the affinities do not change between iterations, so the plan computes the
four corner indices and weights of every tap once; an iteration is then one gather, one
multiply and one sum.
"""
from __future__ import annotations

import torch


def bilinear_corners(pos_y: torch.Tensor, pos_x: torch.Tensor, height: int, width: int
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Corner indices and weights of bilinear sampling at pixel positions ``(pos_y, pos_x)``.

    ``pos_*``: (..., N) float. Returns ``index`` (..., N, 4) int64 into the flattened
    ``height x width`` image and ``weight`` (..., N, 4); corners outside the image get
    weight 0 (and a harmless in-range index), as the deformable convolution's zero padding.
    Gradients flow from ``weight`` to the positions.
    """
    y0f = torch.floor(pos_y)
    x0f = torch.floor(pos_x)
    ly = (pos_y - y0f).unsqueeze(-1)
    lx = (pos_x - x0f).unsqueeze(-1)
    y0 = y0f.long().unsqueeze(-1)
    x0 = x0f.long().unsqueeze(-1)
    corner_dy = torch.tensor([0, 0, 1, 1], device=pos_y.device)
    corner_dx = torch.tensor([0, 1, 0, 1], device=pos_y.device)
    ys = y0 + corner_dy
    xs = x0 + corner_dx
    wy = torch.where(corner_dy.bool(), ly, 1.0 - ly)
    wx = torch.where(corner_dx.bool(), lx, 1.0 - lx)
    inside = (ys >= 0) & (ys < height) & (xs >= 0) & (xs < width)
    weight = wy * wx * inside.to(wy.dtype)
    index = ys.clamp(0, height - 1) * width + xs.clamp(0, width - 1)
    return index, weight


class SamplingPlan:
    """A fixed linear map ``feat -> sum_t w_t(p) * feat(q_t(p)) + w_ref(p) * feat(p)``.

    ``index``: (B, H*W*T*4) flattened source pixels, pixel-major; ``weight``: (B, H*W, T*4)
    = tap weight (affinity or 1) x bilinear weight; ``ref_weight``: (B, H*W) or None.
    """

    def __init__(self, index: torch.Tensor, weight: torch.Tensor, ref_weight: torch.Tensor | None,
                 height: int, width: int) -> None:
        self.index = index
        self.weight = weight
        self.ref_weight = ref_weight
        self.height = height
        self.width = width

    @classmethod
    def build(cls, pos_y: torch.Tensor, pos_x: torch.Tensor, tap_weight: torch.Tensor | None = None,
              ref_weight: torch.Tensor | None = None) -> SamplingPlan:
        """``pos_*``, ``tap_weight``: (B, T, H, W); ``ref_weight``: (B, 1, H, W) or None."""
        batch, taps, height, width = pos_y.shape
        # Pixel-major layout: the taps of one output pixel are contiguous.
        index, weight = bilinear_corners(pos_y.permute(0, 2, 3, 1), pos_x.permute(0, 2, 3, 1), height, width)
        if tap_weight is not None:
            weight = weight * tap_weight.permute(0, 2, 3, 1).unsqueeze(-1)
        index = index.reshape(batch, height * width * taps * 4)
        weight = weight.reshape(batch, height * width, taps * 4)
        if ref_weight is not None:
            ref_weight = ref_weight.reshape(batch, height * width)
        return cls(index, weight, ref_weight, height, width)

    def apply(self, feat: torch.Tensor) -> torch.Tensor:
        """``feat``: (B, 1, H, W) -> (B, 1, H, W)."""
        batch = feat.shape[0]
        flat = feat.reshape(batch, self.height * self.width)
        gathered = torch.gather(flat, 1, self.index).view(self.weight.shape)
        out = torch.linalg.vecdot(gathered, self.weight)
        if self.ref_weight is not None:
            out = out + self.ref_weight * flat
        return out.view(batch, 1, self.height, self.width)

    def sample_taps(self, feat: torch.Tensor) -> torch.Tensor:
        """Each tap separately (no tap weights summed): (B, 1, H, W) -> (B, T, H, W)."""
        batch = feat.shape[0]
        flat = feat.reshape(batch, self.height * self.width)
        taps = self.weight.shape[-1] // 4
        gathered = torch.gather(flat, 1, self.index).view(batch, -1, taps, 4)
        values = (gathered * self.weight.view(batch, -1, taps, 4)).sum(-1)
        return values.permute(0, 2, 1).reshape(batch, taps, self.height, self.width)
