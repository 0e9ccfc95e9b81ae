"""NLSPN as a :class:`~nlspn_ros.completion.Completer`: numpy frames in, dense depth out.

Handles device selection (``auto`` = CUDA when available), precision (fp16/bf16 autocast
for the CNN on CUDA, the propagation always float32), the official input normalization
(RGB / 255, ImageNet mean/std; depth in metres), the max-depth clamp and warm-up. Runs
under ``torch.inference_mode``: no autograd state is kept between frames.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from nlspn_ros import paths
from nlspn_ros.completion import Completion
from nlspn_ros.model import NLSPNConfig, NLSPNModel, load_checkpoint

LOG = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# (level - mean) / std for every uint8 level, per channel, in float32 as the arithmetic on
# tensors would do it: one cv2.LUT per channel normalizes and reorders HWC -> CHW several times
# faster than float conversion, permute and arithmetic in torch on the CPU (docs/model.md)
_NORMALIZE_LUT = (
    (torch.arange(256, dtype=torch.float32).view(1, 256) - torch.tensor(IMAGENET_MEAN).view(3, 1) * 255.0)
    / (torch.tensor(IMAGENET_STD).view(3, 1) * 255.0)
).numpy()


def normalize_rgb(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB -> 3xHxW float32 normalized with ImageNet mean/std, as the official loaders
    do; the one normalization of the package (inference and training).

    Args:
        rgb: (H, W, 3) uint8, RGB order.

    Returns:
        (3, H, W) float32 ``(rgb / 255 - mean) / std`` per channel, a new array.
    """
    normalized = np.empty((3, *rgb.shape[:2]), np.float32)
    for channel, plane in enumerate(cv2.split(np.ascontiguousarray(rgb))):
        cv2.LUT(plane, _NORMALIZE_LUT[channel], dst=normalized[channel])
    return normalized
PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(device: str) -> torch.device:
    """``auto`` -> ``cuda`` when available, else ``cpu``; an unavailable CUDA device is an error.

    Args:
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (any torch device string).

    Returns:
        The torch device.

    Raises:
        ValueError: CUDA requested but not available.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return resolved


class NLSPNCompleter:
    """Depth completion with an NLSPN checkpoint (``None`` = the shipped default model).

    ``config_overrides`` replace config fields after loading (e.g. ``{'legacy': True,
    'preserve_input': True}`` for the released official checkpoints). ``channels_last``:
    memory layout of the CNN (None = channels_last on CUDA only).

    Args:
        checkpoint: a project or official checkpoint file; None = ``paths.DEFAULT_CHECKPOINT``.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``fp32``, ``fp16`` (CUDA only) or ``bf16``: autocast of the CNN; the
            propagation always runs in float32.
        max_depth: metres; the output is clamped to it (None: not clamped).
        config_overrides: config field -> value, as ``load_checkpoint``'s ``overrides``.
        channels_last: see above.

    Attributes:
        name: ``"nlspn"``.
        device: the resolved torch device as a string (``cpu``, ``cuda``, ``cuda:1``).
        precision: as given.
        max_depth: as given; may be changed between frames.
        model: the :class:`NLSPNModel`, in eval mode on ``device``; None after :meth:`release`.
        checkpoint: the loaded file's path (None for :meth:`from_model`).

    Raises:
        CheckpointError: the checkpoint cannot be loaded.
        ValueError: an unavailable device, an unknown precision, fp16 without CUDA, or a
            ``max_depth`` that is not positive.
    """

    name = "nlspn"

    def __init__(self, checkpoint: str | Path | None = None, device: str = "auto", precision: str = "fp32",
                 max_depth: float | None = None, config_overrides: dict | None = None,
                 channels_last: bool | None = None) -> None:
        torch_device = resolve_device(device)
        path = paths.DEFAULT_CHECKPOINT if checkpoint is None else Path(checkpoint)
        model, _ = load_checkpoint(path, device=torch_device, overrides=config_overrides)
        self._setup(model, torch_device, precision, max_depth, channels_last)
        self.checkpoint = path

    @classmethod
    def from_model(cls, model: NLSPNModel, config: NLSPNConfig | None = None, device: str = "auto",
                   precision: str = "fp32", max_depth: float | None = None,
                   channels_last: bool | None = None) -> NLSPNCompleter:
        """Wrap an in-memory model (moved to ``device``, put in eval mode).

        Args:
            model: the network; it is moved and switched to eval mode in place.
            config: if given, must equal ``model.config`` (a check, nothing is rebuilt).
            device: as for the constructor.
            precision: as for the constructor.
            max_depth: as for the constructor.
            channels_last: as for the constructor.

        Returns:
            The completer, with ``checkpoint`` None.

        Raises:
            ValueError: ``config`` differs from the model's, or an invalid setting as for the
                constructor.
        """
        if config is not None and config != model.config:
            raise ValueError(f"config {config} does not describe the model ({model.config})")
        completer = cls.__new__(cls)
        completer._setup(model, resolve_device(device), precision, max_depth, channels_last)
        completer.checkpoint = None
        return completer

    def _setup(self, model: NLSPNModel, device: torch.device, precision: str, max_depth: float | None,
               channels_last: bool | None) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        if precision == "fp16" and device.type != "cuda":
            raise ValueError("precision fp16 needs a CUDA device (use fp32 or bf16 on the CPU)")
        if max_depth is not None and not max_depth > 0:
            raise ValueError(f"max_depth must be positive, got {max_depth}")
        self._torch_device = device
        self.device = str(device)
        self.precision = precision
        self.max_depth = max_depth
        if channels_last is None:  # the faster layout for cuDNN; CPU default: contiguous
            channels_last = device.type == "cuda"
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = model.to(device=device, memory_format=memory_format).eval()
        self._memory_format = memory_format

    def release(self) -> None:
        """Drop the model and hand the device's cached blocks back to the driver (CUDA), so that
        a node cleaned up (lifecycle ``cleanup``) holds no GPU memory. A frame still inside the
        forward keeps the weights until it ends; their blocks then stay in torch's cache."""
        self.model = None
        if self._torch_device.type == "cuda":
            with torch.cuda.device(self._torch_device):
                torch.cuda.empty_cache()

    @property
    def config(self) -> NLSPNConfig:
        """The model's configuration."""
        return self.model.config

    @property
    def prop_time(self) -> int:
        """Propagation iterations per frame; settable between frames (>= 0)."""
        return self.model.prop_time

    @prop_time.setter
    def prop_time(self, value: int) -> None:
        self.model.prop_time = value

    def _inputs(self, rgb: np.ndarray, sparse: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        is_rgb = isinstance(rgb, np.ndarray) and rgb.ndim == 3 and rgb.shape[2] == 3
        if not (is_rgb and rgb.dtype == np.uint8):
            raise ValueError(f"rgb must be an HxWx3 uint8 array, got {getattr(rgb, 'shape', None)} "
                             f"{getattr(rgb, 'dtype', type(rgb).__name__)}")
        if not (isinstance(sparse, np.ndarray) and sparse.shape == rgb.shape[:2]):
            raise ValueError(f"sparse must be an HxW array matching rgb {rgb.shape[:2]}, "
                             f"got {getattr(sparse, 'shape', None)}")
        if rgb.shape[0] < 1 or rgb.shape[1] < 1:
            raise ValueError(f"empty image {rgb.shape}")
        sparse = np.asarray(sparse, dtype=np.float32)
        invalid = ~np.isfinite(sparse) | (sparse < 0)
        if invalid.any():
            LOG.warning("sparse depth: %d non-finite or negative values treated as empty", int(invalid.sum()))
            sparse = np.where(invalid, np.float32(0), sparse)
        normalized = normalize_rgb(rgb)[None]
        rgb_t = torch.from_numpy(normalized).to(self._torch_device, non_blocking=True)
        rgb_t = rgb_t.contiguous(memory_format=self._memory_format)
        dep_t = torch.from_numpy(np.ascontiguousarray(sparse)).to(self._torch_device)
        dep_t = dep_t.view(1, 1, *sparse.shape)
        return rgb_t, dep_t

    def _synchronize(self) -> None:
        if self._torch_device.type == "cuda":
            torch.cuda.synchronize(self._torch_device)

    def complete(self, rgb: np.ndarray, sparse: np.ndarray) -> Completion:
        """rgb HxWx3 uint8 (RGB order), sparse HxW float32 metres (0 = none) -> dense depth.

        Args:
            rgb: (H, W, 3) uint8, RGB order.
            sparse: (H, W) depth in metres, 0 = no measurement (converted to float32);
                non-finite or negative values count as empty (logged as a warning).

        Returns:
            :class:`Completion`: ``depth`` (H, W) float32 metres, >= 0, clamped to ``max_depth``
            when set; ``confidence`` (H, W) float32 in 0..1, or None for a model without
            ``conf_prop``; ``timings_ms`` (wall) ``preprocess``, ``model`` (the forward alone),
            ``postprocess`` and ``total``.

        Raises:
            ValueError: ``rgb`` is not (H, W, 3) uint8, ``sparse`` is not (H, W), or the image
                is empty.
            RuntimeError: the completer was released (:meth:`release`).
        """
        start = time.perf_counter()
        model = self.model  # this frame keeps the model, even if release() runs meanwhile
        if model is None:
            raise RuntimeError("this NLSPN completer was released")
        with torch.inference_mode():
            rgb_t, dep_t = self._inputs(rgb, sparse)
            self._synchronize()
            prepared = time.perf_counter()
            dtype = PRECISIONS[self.precision]
            with torch.autocast(self._torch_device.type, dtype=dtype, enabled=dtype is not None):
                out = model(rgb_t, dep_t)
            self._synchronize()
            inferred = time.perf_counter()
            depth = out["pred"][0, 0].float()
            if self.max_depth is not None:
                depth = depth.clamp(max=self.max_depth)
            depth_np = depth.cpu().numpy().astype(np.float32, copy=False)
            confidence = out["confidence"]
            confidence_np = None if confidence is None else confidence[0, 0].float().cpu().numpy()
        done = time.perf_counter()
        timings = {
            "preprocess": (prepared - start) * 1e3,
            "model": (inferred - prepared) * 1e3,
            "postprocess": (done - inferred) * 1e3,
            "total": (done - start) * 1e3,
        }
        return Completion(depth=depth_np, confidence=confidence_np, timings_ms=timings)

    def warm_up(self, height: int, width: int, runs: int = 1) -> float:
        """Run ``runs`` dummy frames of ``height x width`` (allocator, kernels); returns the last ms.

        Args:
            height: frame height, pixels.
            width: frame width, pixels.
            runs: frames to run (at least one is).

        Returns:
            The last frame's total time, wall milliseconds.
        """
        rgb = np.full((height, width, 3), 128, np.uint8)
        sparse = np.zeros((height, width), np.float32)
        sparse[::7, ::5] = 10.0
        total = 0.0
        for _ in range(max(1, runs)):
            total = self.complete(rgb, sparse).timings_ms["total"]
        return total
