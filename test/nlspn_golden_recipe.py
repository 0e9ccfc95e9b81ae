"""The deterministic weight recipe of the NLSPN golden fixture (see its README)."""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import torch

from nlspn_ros.model import NLSPNConfig, NLSPNModel

CASES = ("kitti", "kitti_legacy", "r18_noconf")


def recipe_value(key: str, shape: tuple[int, ...], offset_weight_scale: float) -> np.ndarray:
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    if key.endswith("running_mean"):
        value = 0.1 * rng.standard_normal(shape)
    elif key.endswith("running_var"):
        value = 1.0 + 0.2 * rng.random(shape)
    elif len(shape) == 1 and key.endswith("weight"):
        value = 1.0 + 0.1 * rng.standard_normal(shape)
    elif len(shape) == 1 and key.endswith("bias"):
        value = 0.05 * rng.standard_normal(shape)
    else:
        value = rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))
    if key == "prop_layer.conv_offset_aff.weight":
        n3 = shape[0] // 3
        value[: 2 * n3] *= offset_weight_scale
        value[2 * n3:] *= 0.1
    elif key == "prop_layer.conv_offset_aff.bias":
        n3 = shape[0] // 3
        fresh = np.random.default_rng(zlib.crc32(key.encode()))
        value = np.concatenate([0.5 * fresh.standard_normal(2 * n3), 1.0 + 0.5 * fresh.standard_normal(n3)])
    return value


def recipe_state_dict(model: torch.nn.Module, offset_weight_scale: float = 0.5) -> dict[str, torch.Tensor]:
    """The model's state_dict with every weight replaced by the recipe's value."""
    state = model.state_dict()
    out = {}
    for key in sorted(state):
        tensor = state[key]
        if not tensor.is_floating_point() or (
            key.startswith("prop_layer.") and not key.startswith("prop_layer.conv_offset_aff.")
        ):
            out[key] = tensor.clone()
            continue
        value = recipe_value(key, tuple(tensor.shape), offset_weight_scale)
        out[key] = torch.from_numpy(value.astype(np.float32))
    return out


def load_case(golden_dir: Path, case: str) -> tuple[dict, dict[str, np.ndarray]]:
    args = json.loads((golden_dir / f"{case}.json").read_text())
    with np.load(golden_dir / f"{case}.npz", allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    return args, arrays


def recipe_model(args: dict) -> NLSPNModel:
    """The case's model with the recipe weights, float32, eval mode."""
    model = NLSPNModel(NLSPNConfig.from_official_args(args))
    model.load_state_dict(recipe_state_dict(model, args.get("offset_weight_scale", 0.5)), strict=True)
    return model.eval()
