"""The NLSPN network (official ``NLSPNModel``): encoder-decoder, three heads, propagation."""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from .config import NLSPNConfig
from .layers import conv_bn_relu, convt_bn_relu, resnet_layer
from .prefill import ip_basic_prefill
from .propagation import NLSPNPropagation


def _concat(decoded: torch.Tensor, encoded: torch.Tensor) -> torch.Tensor:
    """Crop the decoder's extra rows/columns (odd sizes) and concatenate with the skip."""
    height, width = encoded.shape[-2:]
    return torch.cat((decoded[..., :height, :width], encoded), dim=1)


class NLSPNModel(nn.Module):
    """``forward(rgb, dep)``: rgb Bx3xHxW (ImageNet-normalized), dep Bx1xHxW metres (0 = empty).

    Returns the official output dict: ``pred``, ``pred_init``, ``pred_inter`` (list),
    ``guidance``, ``offset`` (B x 2k^2), ``aff`` (B x k^2), ``gamma``, ``confidence``
    (None without conf_prop). The propagation always runs in float32 (autocast off).

    Args:
        config: the architecture; its ``state_dict`` keys and shapes are the official ones.
    """

    def __init__(self, config: NLSPNConfig) -> None:
        super().__init__()
        self._config = config
        c1, c2, c3, c4 = config.channels
        stem = sum(config.stem)
        num = config.num_neighbors

        self.conv1_rgb = conv_bn_relu(3, config.stem[0], bn=False)
        prefilled = config.prefill != "none"
        self.conv1_dep = conv_bn_relu(2 if prefilled else 1, config.stem[1], bn=False)
        self.conv2 = resnet_layer(stem, c1, config.blocks[0], stride=1)  # 1/1
        self.conv3 = resnet_layer(c1, c2, config.blocks[1], stride=2)  # 1/2
        self.conv4 = resnet_layer(c2, c3, config.blocks[2], stride=2)  # 1/4
        self.conv5 = resnet_layer(c3, c4, config.blocks[3], stride=2)  # 1/8
        self.conv6 = conv_bn_relu(c4, c4, stride=2)  # 1/16

        self.dec5 = convt_bn_relu(c4, c3)
        self.dec4 = convt_bn_relu(c3 + c4, c2)
        self.dec3 = convt_bn_relu(c2 + c3, c1)
        self.dec2 = convt_bn_relu(c1 + c2, c1)

        self.id_dec1 = conv_bn_relu(c1 + c1, c1)
        # with a prefill the head is a signed residual on it, starting at zero (the prefill itself)
        self.id_dec0 = conv_bn_relu(c1 + stem, 1, bn=False, relu=not prefilled)
        if prefilled:
            nn.init.zeros_(self.id_dec0[0].weight)
            nn.init.zeros_(self.id_dec0[0].bias)
        self.gd_dec1 = conv_bn_relu(c1 + c1, c1)
        self.gd_dec0 = conv_bn_relu(c1 + stem, num, bn=False, relu=False)
        if config.conf_prop:
            self.cf_dec1 = conv_bn_relu(c1 + c1, c1 // 2)
            self.cf_dec0 = nn.Sequential(nn.Conv2d(c1 // 2 + stem, 1, 3, 1, 1), nn.Sigmoid())

        self.prop_layer = NLSPNPropagation(config)

    @property
    def config(self) -> NLSPNConfig:
        """The configuration (``prop_time`` follows the :attr:`prop_time` setter)."""
        return self._config

    @property
    def prop_time(self) -> int:
        """Propagation iterations per forward; settable between calls (>= 0, no rebuild).

        Raises:
            ValueError: on setting a negative value.
        """
        return self.prop_layer.prop_time

    @prop_time.setter
    def prop_time(self, value: int) -> None:
        """Number of propagation iterations; may change between calls (no rebuild)."""
        if int(value) < 0:
            raise ValueError(f"prop_time must be >= 0, got {value}")
        self.prop_layer.prop_time = int(value)
        self._config = dataclasses.replace(self._config, prop_time=int(value))

    def forward(self, rgb: torch.Tensor, dep: torch.Tensor) -> dict[str, object]:
        """Complete a batch; any H, W (the decoder crops its odd-size extras).

        Args:
            rgb: (B, 3, H, W) float32, ImageNet-normalized RGB (the NLSPN completer's ``normalize_rgb``).
            dep: (B, 1, H, W) float32 sparse depth in metres, 0 = no measurement.

        Returns:
            The official outputs, k = ``prop_kernel``, N = k*k - 1 neighbours:

            * ``pred``: (B, 1, H, W) float32 metres, clamped at 0 (the result);
            * ``pred_init``: (B, 1, H, W) metres, the initial depth before propagation;
            * ``pred_inter``: list of ``prop_time`` (B, 1, H, W) float32, after each iteration;
            * ``guidance``: (B, N, H, W), the features the offsets and affinities come from;
            * ``offset``: (B, 2*k*k, H, W) float32 pixels, (dy, dx) per tap, centre tap zero
              (with ``legacy`` the grid position included);
            * ``aff``: (B, k*k, H, W) float32 affinities, the reference (the pixel's own) at the
              centre;
            * ``gamma``: (1,) the affinity scale (``prop_layer.aff_scale_const``);
            * ``confidence``: (B, 1, H, W) in 0..1, or None without ``conf_prop``.

            ``pred_init``, ``guidance`` and ``confidence`` come from the CNN and follow an
            enclosing autocast's dtype; the rest is float32.
        """
        prefill = ip_basic_prefill(dep) if self.config.prefill == "ip_basic" else None
        dep_in = dep if prefill is None else torch.cat((dep, prefill), dim=1)
        fe1 = torch.cat((self.conv1_rgb(rgb), self.conv1_dep(dep_in)), dim=1)
        fe2 = self.conv2(fe1)
        fe3 = self.conv3(fe2)
        fe4 = self.conv4(fe3)
        fe5 = self.conv5(fe4)
        fe6 = self.conv6(fe5)

        fd5 = self.dec5(fe6)
        fd4 = self.dec4(_concat(fd5, fe5))
        fd3 = self.dec3(_concat(fd4, fe4))
        fd2 = self.dec2(_concat(fd3, fe3))
        skip2 = _concat(fd2, fe2)

        pred_init = self.id_dec0(_concat(self.id_dec1(skip2), fe1))
        if prefill is not None:
            pred_init = torch.clamp(pred_init + prefill.to(pred_init.dtype), min=0)
        guidance = self.gd_dec0(_concat(self.gd_dec1(skip2), fe1))
        confidence = None
        if self.config.conf_prop:
            confidence = self.cf_dec0(_concat(self.cf_dec1(skip2), fe1))

        with torch.autocast(device_type=rgb.device.type, enabled=False):
            result = self.prop_layer(
                pred_init.float(), guidance.float(),
                None if confidence is None else confidence.float(), dep.float(),
            )
        return {
            "pred": torch.clamp(result["pred"], min=0),
            "pred_init": pred_init,
            "pred_inter": result["pred_inter"],
            "guidance": guidance,
            "offset": result["offset"],
            "aff": result["aff"],
            "gamma": result["gamma"],
            "confidence": confidence,
        }
