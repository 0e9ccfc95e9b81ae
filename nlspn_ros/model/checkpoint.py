"""Saving and loading checkpoints: the project's format and the official NLSPN one.

Project format (``torch.save`` of plain types and tensors)::

    {'format': 'nlspn_ros', 'version': 1, 'config': NLSPNConfig.to_dict(),
     'state_dict': {...}, 'meta': {...}}

Official format: ``{'net': state_dict, 'args': argparse.Namespace, ...}``.
Both load with ``weights_only=True``; the only class allowed besides tensors and plain
containers is ``argparse.Namespace``, so a file cannot run pickled code.
"""
from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .config import NLSPNConfig
from .network import NLSPNModel

FORMAT_NAME = "nlspn_ros"
FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names the file and the problem."""


def save_checkpoint(path: str | Path, model: NLSPNModel, config: NLSPNConfig | None = None,
                    meta: dict[str, Any] | None = None) -> Path:
    """Write ``model`` in the project format (loadable with ``weights_only=True``).

    The file is written beside ``path`` first and renamed over it, so a reader never sees half a
    file; missing parent folders are created.

    Args:
        path: the file to write (by convention ``.pt``).
        model: its ``state_dict`` is saved, moved to the CPU.
        config: the configuration stored with it (None: ``model.config``).
        meta: free-form plain data stored beside the weights (training run, data, ...).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    config = model.config if config is None else config
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    payload = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "config": config.to_dict(),
        "state_dict": state,
        "meta": dict(meta or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def read_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """The raw checkpoint dict, loaded weights-only (``argparse.Namespace`` allowed).

    Args:
        path: a project or official checkpoint.
        device: where its tensors are loaded (``map_location``).

    Returns:
        The checkpoint's top-level dict, unvalidated.

    Raises:
        CheckpointError: missing, truncated, corrupt, not a dict, or containing pickled objects
            other than tensors, plain data and ``argparse.Namespace``.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: file not found")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            data = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises several types for truncated/foreign/unsafe files
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        reason = f"truncated, corrupt or another format; {type(exc).__name__}: {first_line}"[:300]
        if "Weights only load failed" in str(exc) or "Unsupported global" in str(exc):
            reason = "refused: it contains pickled objects other than tensors and plain data"
        raise CheckpointError(f"checkpoint {path}: not a loadable checkpoint ({reason})") from exc
    if not isinstance(data, Mapping):
        raise CheckpointError(f"checkpoint {path}: expected a dict, found {type(data).__name__}")
    return dict(data)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu",
                    overrides: dict[str, Any] | None = None) -> tuple[NLSPNModel, NLSPNConfig]:
    """Load a project or official checkpoint: ``(model in eval mode on device, config)``.

    ``overrides`` replace config fields, e.g. ``{'preserve_input': True, 'legacy': True}``
    for the released official checkpoints, whose stored ``args`` are the training ones.

    Args:
        path: a project checkpoint (:func:`save_checkpoint`) or an official one (``net`` and
            ``args``; a DataParallel ``module.`` prefix is removed).
        device: where the model is put, e.g. ``"cpu"`` or ``"cuda:0"``.
        overrides: config field -> value, applied before the model is built.

    Returns:
        ``(model, config)``: the :class:`NLSPNModel` in eval mode on ``device`` and its
        configuration (overrides included).

    Raises:
        CheckpointError: anything that keeps the file from giving a model (see
            :func:`read_checkpoint`; also an unknown format or version, an invalid configuration,
            weights that do not fit it). The message names the file.
    """
    data = read_checkpoint(path, device)
    try:
        if data.get("format") == FORMAT_NAME:
            if data.get("version") != FORMAT_VERSION:
                raise CheckpointError(f"checkpoint {path}: unsupported version {data.get('version')!r}")
            config = NLSPNConfig.from_dict(dict(data["config"]))
            state = data["state_dict"]
        elif "net" in data and "args" in data:
            config = NLSPNConfig.from_official_args(data["args"])
            state = {_strip_prefix(key): value for key, value in data["net"].items()}
        else:
            raise CheckpointError(
                f"checkpoint {path}: neither an nlspn_ros checkpoint nor an official NLSPN one "
                f"(keys: {sorted(map(str, data))[:8]})"
            )
        if overrides:
            config = config.with_changes(**overrides)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"checkpoint {path}: invalid configuration ({exc})") from exc

    model = NLSPNModel(config)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        detail = " ".join(str(exc).split())[:400]
        raise CheckpointError(
            f"checkpoint {path}: weights do not match the {config.network} configuration ({detail})"
        ) from exc
    return model.to(device).eval(), config


def _strip_prefix(key: str) -> str:
    """Checkpoints saved from DataParallel/DistributedDataParallel prefix keys with ``module.``."""
    return key[len("module."):] if key.startswith("module.") else key
