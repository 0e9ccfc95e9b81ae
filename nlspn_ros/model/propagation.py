"""Non-local spatial propagation (the official ``NLSPN`` module), with a precomputed sampling plan.

Semantics follow the official code exactly, quirks included:

* offsets come as (dy, dx) per neighbour; the zero reference offset is inserted at the
  centre tap; neighbour ``n`` of a ``k x k`` kernel sits at grid position ``g_n`` and is
  sampled at ``p + g_n + o_n`` (bilinear, zero outside the image);
* with ``conf_prop`` each neighbour's affinity is multiplied by the confidence sampled at
  ``p + o_n`` (the official code leaves out the grid position there; offsets detached);
* with ``conf_prop`` and ``legacy`` the official code adds ``g_n`` to the offsets in place,
  so the confidence is sampled at ``p + g_n + o_n`` and the propagation at
  ``p + 2 g_n + o_n``; the returned ``offset`` includes ``g_n``. Released checkpoints
  were trained that way.
"""
from __future__ import annotations

import torch
from torch import nn

from .config import NLSPNConfig
from .sampling import bilinear_sample, propagate


class NLSPNPropagation(nn.Module):
    """Parameter names as the official ``prop_layer``: conv_offset_aff, aff_scale_const, w, b, w_conf."""

    def __init__(self, config: NLSPNConfig) -> None:
        super().__init__()
        self.kernel = config.prop_kernel
        self.num = config.num_neighbors
        self.idx_ref = self.num // 2
        self.prop_time = config.prop_time
        self.affinity = config.affinity
        self.conf_prop = config.conf_prop
        self.preserve_input = config.preserve_input
        self.legacy = config.legacy

        self.conv_offset_aff = nn.Conv2d(self.num, 3 * self.num, 3, 1, 1, bias=True)
        nn.init.zeros_(self.conv_offset_aff.weight)
        nn.init.zeros_(self.conv_offset_aff.bias)
        if self.affinity == "TC":
            self.aff_scale_const = nn.Parameter(self.num * torch.ones(1), requires_grad=False)
        elif self.affinity == "TGASS":
            self.aff_scale_const = nn.Parameter(config.affinity_gamma * self.num * torch.ones(1))
        else:
            self.aff_scale_const = nn.Parameter(torch.ones(1), requires_grad=False)
        # Constant "weights" of the official deformable-convolution gathers (kept for the keys).
        self.w = nn.Parameter(torch.ones(1, 1, self.kernel, self.kernel), requires_grad=False)
        self.b = nn.Parameter(torch.zeros(1), requires_grad=False)
        self.w_conf = nn.Parameter(torch.ones(1, 1, 1, 1), requires_grad=False)

    def neighbor_grid(self, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """(num, 2) grid positions (dy, dx) of the neighbours, centre tap left out."""
        half = (self.kernel - 1) // 2
        taps = [t for t in range(self.kernel * self.kernel) if t != self.num // 2]
        grid = [(t // self.kernel - half, t % self.kernel - half) for t in taps]
        return torch.tensor(grid, device=device, dtype=dtype)

    def offset_affinity(self, guidance: torch.Tensor, confidence: torch.Tensor | None
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Neighbour offsets (B, num, 2, H, W) as the official code uses them (legacy grid
        included), normalized neighbour affinities (B, num, H, W) and the reference affinity."""
        batch, _, height, width = guidance.shape
        offset_aff = self.conv_offset_aff(guidance)
        offset = offset_aff[:, : 2 * self.num].reshape(batch, self.num, 2, height, width)
        aff = offset_aff[:, 2 * self.num:]
        if self.affinity == "TC":
            aff = torch.tanh(aff) / self.aff_scale_const
        elif self.affinity == "TGASS":
            aff = torch.tanh(aff) / (self.aff_scale_const + 1e-8)

        if self.conf_prop:
            if confidence is None:
                raise ValueError("conf_prop needs a confidence map")
            grid = self.neighbor_grid(offset.device, offset.dtype).view(1, self.num, 2, 1, 1)
            if self.legacy:
                offset = offset + grid
            detached = offset.detach()
            aff = aff * bilinear_sample(confidence, detached[:, :, 0], detached[:, :, 1])

        aff_abs_sum = aff.abs().sum(dim=1, keepdim=True) + 1e-4
        if self.affinity in ("ASS", "TGASS"):
            aff_abs_sum = torch.where(aff_abs_sum < 1.0, torch.ones_like(aff_abs_sum), aff_abs_sum)
        if self.affinity in ("AS", "ASS", "TGASS"):
            aff = aff / aff_abs_sum
        aff_ref = 1.0 - aff.sum(dim=1, keepdim=True)
        return offset, aff, aff_ref

    def forward(self, feat_init: torch.Tensor, guidance: torch.Tensor, confidence: torch.Tensor | None = None,
                feat_fix: torch.Tensor | None = None) -> dict[str, object]:
        offset, aff, aff_ref = self.offset_affinity(guidance, confidence)

        if self.preserve_input:
            if feat_fix is None or feat_fix.shape != feat_init.shape:
                raise ValueError("preserve_input needs the sparse input at the size of the initial depth")
            mask_fix = (feat_fix > 0.0).to(feat_fix.dtype)
            keep, fixed = 1.0 - mask_fix, mask_fix * feat_fix
        else:
            keep = fixed = None
        grid = self.neighbor_grid(offset.device, offset.dtype)
        feats = list(propagate(offset[:, :, 0], offset[:, :, 1], aff, aff_ref, feat_init, self.prop_time,
                               keep, fixed, tap_shift=grid).unbind(0))
        return {
            "pred": feats[-1] if feats else feat_init,
            "pred_inter": feats,
            "offset": self.official_offset(offset),
            "aff": torch.cat((aff[:, : self.idx_ref], aff_ref, aff[:, self.idx_ref:]), dim=1),
            "gamma": self.aff_scale_const.data,
        }

    def official_offset(self, offset: torch.Tensor) -> torch.Tensor:
        """(B, num, 2, H, W) -> official (B, 2*k*k, H, W) with the zero centre tap inserted."""
        batch, _, _, height, width = offset.shape
        zero = offset.new_zeros(batch, 1, 2, height, width)
        full = torch.cat((offset[:, : self.idx_ref], zero, offset[:, self.idx_ref:]), dim=1)
        return full.reshape(batch, -1, height, width)
