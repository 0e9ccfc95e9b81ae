"""NLSPN configuration: the official model options plus the encoder size (for the small model)."""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

AFFINITIES = ("AS", "ASS", "TC", "TGASS")
PREFILLS = ("none", "ip_basic")

# Official encoders: torchvision ResNet BasicBlock layers (blocks per layer, widths).
RESNET_BLOCKS = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}
RESNET_CHANNELS = (64, 128, 256, 512)
OFFICIAL_STEM = (48, 16)


@dataclass
class NLSPNConfig:
    """Everything needed to build an :class:`NLSPNModel`.

    The first eight fields are the official ``args`` of the same name. ``network`` is
    ``resnet18`` / ``resnet34`` (official, fixed encoder) or ``custom`` (then ``blocks``,
    ``channels`` and ``stem`` describe the encoder; the decoder follows the same pattern
    with the encoder widths). ``legacy`` reproduces the released checkpoints' sampling
    (see ``propagation.py``); it only has an effect with ``conf_prop``.

    ``prefill`` (ours, custom encoders only): ``ip_basic`` computes IP-Basic's classical fill of the
    sparse input inside the forward, feeds it to the depth stem beside the sparse depth and makes the
    initial depth that fill plus a learned residual, which the propagation then refines. ``none``
    is the official network.

    Attributes:
        network: ``resnet18``, ``resnet34`` or ``custom``.
        prop_time: propagation iterations (>= 0).
        prop_kernel: side k of the k x k neighbourhood (odd, >= 3); k*k - 1 neighbours.
        affinity: affinity normalization, ``AS``, ``ASS``, ``TC`` or ``TGASS``.
        affinity_gamma: ``TGASS`` only: its learned affinity scale starts at gamma * (k*k - 1).
        conf_prop: predict a confidence map and weight the neighbours' affinities with it.
        preserve_input: re-impose the sparse input (pixels > 0) before every iteration.
        legacy: the released checkpoints' in-place offset quirk (with ``conf_prop`` only).
        blocks: BasicBlocks per encoder layer (4 entries; fixed for resnet18/34).
        channels: encoder layer widths (4 entries; fixed for resnet18/34).
        stem: (rgb, depth) stem widths (fixed for resnet18/34).
        prefill: ``none`` or ``ip_basic`` (custom encoders only).

    Raises:
        ValueError: an unknown option or an invalid size (checked at construction).
    """

    network: str = "resnet34"
    prop_time: int = 18
    prop_kernel: int = 3
    affinity: str = "TGASS"
    affinity_gamma: float = 0.5
    conf_prop: bool = True
    preserve_input: bool = False
    legacy: bool = False
    blocks: tuple[int, int, int, int] = RESNET_BLOCKS["resnet34"]
    channels: tuple[int, int, int, int] = RESNET_CHANNELS
    stem: tuple[int, int] = OFFICIAL_STEM  # (rgb, depth) stem widths
    prefill: str = "none"

    def __post_init__(self) -> None:
        self.blocks = tuple(int(b) for b in self.blocks)
        self.channels = tuple(int(c) for c in self.channels)
        self.stem = tuple(int(c) for c in self.stem)
        if self.network in RESNET_BLOCKS:
            # The official networks have a fixed encoder: derive it from the name.
            self.blocks = RESNET_BLOCKS[self.network]
            self.channels = RESNET_CHANNELS
            self.stem = OFFICIAL_STEM
        elif self.network != "custom":
            raise ValueError(f"network must be resnet18, resnet34 or custom, got {self.network!r}")
        if self.prefill not in PREFILLS:
            raise ValueError(f"prefill must be one of {PREFILLS}, got {self.prefill!r}")
        if self.prefill != "none" and self.network != "custom":
            raise ValueError("prefill is an option of the custom encoder; the official networks have none")
        if self.affinity not in AFFINITIES:
            raise ValueError(f"affinity must be one of {AFFINITIES}, got {self.affinity!r}")
        if self.prop_kernel < 3 or self.prop_kernel % 2 == 0:
            raise ValueError(f"prop_kernel must be odd and >= 3, got {self.prop_kernel}")
        if self.prop_time < 0:
            raise ValueError(f"prop_time must be >= 0, got {self.prop_time}")
        if len(self.blocks) != 4 or len(self.channels) != 4 or len(self.stem) != 2:
            raise ValueError("blocks and channels need 4 entries, stem 2")
        if min(self.blocks) < 1 or min(self.channels) < 2 or min(self.stem) < 1:
            raise ValueError(f"invalid encoder sizes: blocks={self.blocks} channels={self.channels}")

    @property
    def num_neighbors(self) -> int:
        """Neighbours per pixel, ``prop_kernel**2 - 1`` (the centre tap is the pixel itself)."""
        return self.prop_kernel * self.prop_kernel - 1

    @classmethod
    def small(cls, **overrides: Any) -> NLSPNConfig:
        """The small model (the shipped default's architecture): thin encoder (8/16/32/64
        channels, one block per layer), same propagation, fast enough for a CPU (timings in
        docs/model.md). ``small(channels=(16, 32, 64, 128), stem=(12, 4))`` is the wider variant.

        Args:
            **overrides: fields that replace the small model's values (e.g. ``prefill="ip_basic"``,
                the shipped default).

        Returns:
            The configuration (``network="custom"``).
        """
        base = dict(
            network="custom", blocks=(1, 1, 1, 1), channels=(8, 16, 32, 64), stem=(6, 2),
            prop_time=18, prop_kernel=3, affinity="TGASS", conf_prop=True, preserve_input=True,
        )
        base.update(overrides)
        return cls(**base)

    @classmethod
    def from_official_args(cls, args: argparse.Namespace | dict[str, Any]) -> NLSPNConfig:
        """Config from the official ``args`` (Namespace or dict); other fields are ignored.

        Official checkpoints saved before the ``legacy`` option existed were trained with the
        legacy behaviour, so a missing ``legacy`` means True (pass an override to change it).

        Args:
            args: the official training script's arguments; needs ``network``, the other seven
                model options fall back to this class's defaults.

        Returns:
            The configuration of the official network.

        Raises:
            ValueError: no ``network`` field, or an invalid value.
        """
        values = dict(vars(args)) if isinstance(args, argparse.Namespace) else dict(args)
        if "network" not in values:
            raise ValueError("official args have no 'network' field")
        defaults = cls()
        return cls(
            network=str(values["network"]),
            prop_time=int(values.get("prop_time", defaults.prop_time)),
            prop_kernel=int(values.get("prop_kernel", defaults.prop_kernel)),
            affinity=str(values.get("affinity", defaults.affinity)),
            affinity_gamma=float(values.get("affinity_gamma", defaults.affinity_gamma)),
            conf_prop=bool(values.get("conf_prop", defaults.conf_prop)),
            preserve_input=bool(values.get("preserve_input", defaults.preserve_input)),
            legacy=bool(values.get("legacy", True)),
        )

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain types (tuples as lists): safe for weights-only checkpoints and JSON.

        Returns:
            Field name -> value; :meth:`from_dict` reads it back.
        """
        data = asdict(self)
        for key in ("blocks", "channels", "stem"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NLSPNConfig:
        """The inverse of :meth:`to_dict`; missing fields take the defaults.

        Args:
            data: field name -> value.

        Returns:
            The configuration.

        Raises:
            ValueError: an unknown field name or an invalid value.
        """
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown NLSPNConfig fields: {sorted(unknown)}")
        return cls(**data)

    def with_changes(self, **changes: Any) -> NLSPNConfig:
        """A copy with ``changes`` applied (validated again; this one is unchanged).

        Args:
            **changes: field name -> new value.

        Returns:
            The new configuration.

        Raises:
            ValueError: an invalid value (``TypeError`` for an unknown field).
        """
        return replace(self, **changes)
