"""Direct port of the official NLSPN propagation, for tests and benchmarks only.

The official ``NLSPN`` module (src/model/nlspnmodel.py) calls a compiled modulated
deformable convolution (DCNv2) in every iteration. ``modulated_deform_conv`` below is that
operation written in torch (bilinear sampling with zero padding, per kernel tap, computed
anew on every call, like DCNv2's im2col), and ``official_propagation`` follows the official
``NLSPN.forward`` line by line, the in-place ``legacy`` write included. Not used by the package.
"""
from __future__ import annotations

import torch

from nlspn_ros.model.propagation import NLSPNPropagation


def bilinear_sample(image: torch.Tensor, pos_y: torch.Tensor, pos_x: torch.Tensor) -> torch.Tensor:
    """DCNv2's ``dmcn_im2col_bilinear``: image (B, C, H, W), positions (B, H', W') -> (B, C, H', W')."""
    batch, channels, height, width = image.shape
    y0 = torch.floor(pos_y)
    x0 = torch.floor(pos_x)
    ly, lx = pos_y - y0, pos_x - x0
    y0, x0 = y0.long(), x0.long()
    flat = image.reshape(batch, channels, height * width)
    out = torch.zeros(batch, channels, *pos_y.shape[1:], dtype=image.dtype, device=image.device)
    for dy, dx, weight in ((0, 0, (1 - ly) * (1 - lx)), (0, 1, (1 - ly) * lx),
                           (1, 0, ly * (1 - lx)), (1, 1, ly * lx)):
        ys, xs = y0 + dy, x0 + dx
        inside = (ys >= 0) & (ys < height) & (xs >= 0) & (xs < width)
        index = (ys.clamp(0, height - 1) * width + xs.clamp(0, width - 1)).reshape(batch, 1, -1)
        values = torch.gather(flat, 2, index.expand(batch, channels, index.shape[-1]))
        out = out + values.view_as(out) * (weight * inside.to(weight.dtype)).unsqueeze(1)
    return out


def modulated_deform_conv(feat: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor,
                          weight: torch.Tensor, bias: torch.Tensor, padding: int) -> torch.Tensor:
    """``ModulatedDeformConvFunction`` with stride 1, dilation 1, one group, one deformable group.

    feat (B, C, H, W); offset (B, 2*k*k, H, W) as (dy, dx) per tap; mask (B, k*k, H, W);
    weight (C_out, C, k, k); the output has the input's size (padding = (k-1)/2, or 0 for k=1).
    """
    batch, _, height, width = feat.shape
    kernel = weight.shape[-1]
    ys = torch.arange(height, dtype=feat.dtype, device=feat.device).view(1, height, 1)
    xs = torch.arange(width, dtype=feat.dtype, device=feat.device).view(1, 1, width)
    out = bias.view(1, -1, 1, 1).to(feat.dtype).expand(batch, -1, height, width)
    for tap in range(kernel * kernel):
        i, j = divmod(tap, kernel)
        pos_y = ys - padding + i + offset[:, 2 * tap]
        pos_x = xs - padding + j + offset[:, 2 * tap + 1]
        column = bilinear_sample(feat, pos_y, pos_x) * mask[:, tap: tap + 1]
        out = out + torch.einsum("oc,bchw->bohw", weight[:, :, i, j].to(feat.dtype), column)
    return out


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
