"""Building blocks with the official (NLSPN common.py / torchvision ResNet) parameter names."""
from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu(ch_in: int, ch_out: int, kernel: int = 3, stride: int = 1, padding: int = 1,
                 bn: bool = True, relu: bool = True) -> nn.Sequential:
    """Conv (bias only without BN), BatchNorm, LeakyReLU(0.2): keys ``0.*``, ``1.*``."""
    layers: list[nn.Module] = [nn.Conv2d(ch_in, ch_out, kernel, stride, padding, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(ch_out))
    if relu:
        layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


def convt_bn_relu(ch_in: int, ch_out: int) -> nn.Sequential:
    """Transposed conv doubling the size (3x3, stride 2), BatchNorm, LeakyReLU(0.2)."""
    return nn.Sequential(
        nn.ConvTranspose2d(ch_in, ch_out, 3, 2, 1, output_padding=1, bias=False),
        nn.BatchNorm2d(ch_out),
        nn.LeakyReLU(0.2, inplace=True),
    )


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock (same attribute names, so the same state_dict keys)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample: nn.Module | None = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


def resnet_layer(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    """torchvision ``ResNet._make_layer`` for BasicBlocks."""
    layers = [BasicBlock(inplanes, planes, stride)]
    layers += [BasicBlock(planes, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)
