"""Direct port of the official NLSPN propagation, for tests and benchmarks only.

The official ``NLSPN`` module (src/model/nlspnmodel.py) calls a compiled modulated
deformable convolution (DCNv2) in every iteration. ``modulated_deform_conv`` below is that
operation written in torch (bilinear sampling of every kernel tap with zero padding, computed
anew on every call like DCNv2's im2col, then the contraction with the weight), and
``official_propagation`` follows the official ``NLSPN.forward`` line by line, the in-place
``legacy`` write included. Not used by the package.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from nlspn_ros.model.propagation import NLSPNPropagation


def modulated_deform_conv(feat: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor,
                          weight: torch.Tensor, bias: torch.Tensor, padding: int) -> torch.Tensor:
    """``ModulatedDeformConvFunction`` with stride 1, dilation 1, one group, one deformable group.

    feat (B, C, H, W); offset (B, 2*k*k, H, W) as (dy, dx) per tap; mask (B, k*k, H, W);
    weight (C_out, C, k, k); the output has the input's size (padding = (k-1)/2, or 0 for k=1).
    Like DCNv2's im2col, every call samples all taps anew (bilinear, zero outside the image:
    ``grid_sample`` with ``align_corners=True`` on pixel positions), then contracts with the weight.
    """
    batch, channels, height, width = feat.shape
    kernel = weight.shape[-1]
    taps = kernel * kernel
    grid_i = torch.arange(kernel, dtype=feat.dtype, device=feat.device).repeat_interleave(kernel)
    grid_j = torch.arange(kernel, dtype=feat.dtype, device=feat.device).repeat(kernel)
    ys = torch.arange(height, dtype=feat.dtype, device=feat.device).view(1, 1, height, 1)
    xs = torch.arange(width, dtype=feat.dtype, device=feat.device).view(1, 1, 1, width)
    pos_y = ys - padding + grid_i.view(1, taps, 1, 1) + offset[:, 0::2]
    pos_x = xs - padding + grid_j.view(1, taps, 1, 1) + offset[:, 1::2]
    padded = F.pad(feat, (0, max(0, 2 - width), 0, max(0, 2 - height)))  # align_corners needs 2 px
    rows, cols = padded.shape[-2:]
    grid = torch.stack((pos_x * (2.0 / (cols - 1)) - 1.0, pos_y * (2.0 / (rows - 1)) - 1.0), dim=-1)
    columns = F.grid_sample(padded, grid.view(batch, taps * height, width, 2), mode="bilinear",
                            padding_mode="zeros", align_corners=True)
    columns = columns.view(batch, channels, taps, height, width) * mask.unsqueeze(1)
    kernel_weight = weight.reshape(weight.shape[0], channels, taps).to(feat.dtype)
    out = torch.einsum("ock,bckhw->bohw", kernel_weight, columns)
    return out + bias.view(1, -1, 1, 1).to(feat.dtype)


def official_offset_affinity(layer: NLSPNPropagation, guidance: torch.Tensor,
                             confidence: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``NLSPN._get_offset_affinity`` of the official code."""
    batch, _, height, width = guidance.shape
    num, idx_ref, kernel = layer.num, layer.idx_ref, layer.kernel
    offset_aff = layer.conv_offset_aff(guidance)
    o1, o2, aff = torch.chunk(offset_aff, 3, dim=1)
    offset = torch.cat((o1, o2), dim=1).view(batch, num, 2, height, width)
    list_offset = list(torch.chunk(offset, num, dim=1))
    list_offset.insert(idx_ref, torch.zeros((batch, 1, 2, height, width)).type_as(offset))
    offset = torch.cat(list_offset, dim=1).view(batch, -1, height, width)

    if layer.affinity == "TC":
        aff = torch.tanh(aff) / layer.aff_scale_const
    elif layer.affinity == "TGASS":
        aff = torch.tanh(aff) / (layer.aff_scale_const + 1e-8)

    if layer.conf_prop:
        list_conf = []
        offset_each = torch.chunk(offset, num + 1, dim=1)
        modulation_dummy = torch.ones((batch, 1, height, width)).type_as(offset).detach()
        for idx_off in range(num + 1):
            ww = idx_off % kernel
            hh = idx_off // kernel
            if ww == (kernel - 1) / 2 and hh == (kernel - 1) / 2:
                continue
            offset_tmp = offset_each[idx_off].detach()
            if layer.legacy:  # in-place write into a view: also moves the propagation taps
                offset_tmp[:, 0, :, :] = offset_tmp[:, 0, :, :] + hh - (kernel - 1) / 2
                offset_tmp[:, 1, :, :] = offset_tmp[:, 1, :, :] + ww - (kernel - 1) / 2
            conf_tmp = modulated_deform_conv(confidence, offset_tmp, modulation_dummy, layer.w_conf,
                                             layer.b, padding=0)
            list_conf.append(conf_tmp)
        aff = aff * torch.cat(list_conf, dim=1).contiguous()

    aff_abs_sum = torch.sum(torch.abs(aff), dim=1, keepdim=True) + 1e-4
    if layer.affinity in ("ASS", "TGASS"):
        aff_abs_sum[aff_abs_sum < 1.0] = 1.0
    if layer.affinity in ("AS", "ASS", "TGASS"):
        aff = aff / aff_abs_sum
    aff_ref = 1.0 - torch.sum(aff, dim=1, keepdim=True)
    list_aff = list(torch.chunk(aff, num, dim=1))
    list_aff.insert(idx_ref, aff_ref)
    return offset, torch.cat(list_aff, dim=1)


def propagate(feat_init: torch.Tensor, offset: torch.Tensor, aff: torch.Tensor, prop_time: int,
              feat_fix: torch.Tensor | None = None) -> torch.Tensor:
    """The official propagation loop: ``prop_time`` modulated deformable convolutions."""
    kernel = int(round(aff.shape[1] ** 0.5))
    weight = torch.ones(1, 1, kernel, kernel, dtype=feat_init.dtype, device=feat_init.device)
    bias = torch.zeros(1, dtype=feat_init.dtype, device=feat_init.device)
    if feat_fix is not None:
        mask_fix = (torch.sum(feat_fix > 0.0, dim=1, keepdim=True) > 0.0).type_as(feat_fix)
    feat = feat_init
    for _ in range(prop_time):
        if feat_fix is not None:
            feat = (1.0 - mask_fix) * feat + mask_fix * feat_fix
        feat = modulated_deform_conv(feat, offset, aff, weight, bias, padding=(kernel - 1) // 2)
    return feat


def official_propagation(layer: NLSPNPropagation, feat_init: torch.Tensor, guidance: torch.Tensor,
                         confidence: torch.Tensor | None = None, feat_fix: torch.Tensor | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``NLSPN.forward`` of the official code with ``layer``'s parameters: (pred, offset, aff)."""
    offset, aff = official_offset_affinity(layer, guidance, confidence if layer.conf_prop else None)
    fix = feat_fix if layer.preserve_input else None
    return propagate(feat_init, offset, aff, layer.prop_time, fix), offset, aff
