"""Procedural surface patterns in 0..1 from 2D surface coordinates (metres), vectorized.

Value noise comes from a hash of the integer lattice (the classic ``fract(sin(dot) * 43758.5453)``),
so patterns are deterministic and need no stored images; ``seed`` decorrelates objects.
"""

from __future__ import annotations

import numpy as np

TEXTURES = ("flat", "noise", "checker", "stripes", "bricks", "windows", "asphalt")


def _hash(ix: np.ndarray, iy: np.ndarray, seed: float) -> np.ndarray:
    value = np.sin(ix * 12.9898 + iy * 78.233 + seed * 37.719) * 43758.5453
    return value - np.floor(value)


def value_noise(u: np.ndarray, v: np.ndarray, seed: float = 0.0) -> np.ndarray:
    """Smooth noise with one feature per unit of u and v."""
    iu, iv = np.floor(u), np.floor(v)
    fu, fv = u - iu, v - iv
    fu, fv = fu * fu * (3 - 2 * fu), fv * fv * (3 - 2 * fv)
    a, b = _hash(iu, iv, seed), _hash(iu + 1, iv, seed)
    c, d = _hash(iu, iv + 1, seed), _hash(iu + 1, iv + 1, seed)
    return (a * (1 - fu) + b * fu) * (1 - fv) + (c * (1 - fu) + d * fu) * fv


def fractal_noise(u: np.ndarray, v: np.ndarray, seed: float = 0.0, octaves: int = 3) -> np.ndarray:
    total, amplitude, norm = np.zeros_like(u), 1.0, 0.0
    for octave in range(octaves):
        total += amplitude * value_noise(u * 2**octave, v * 2**octave, seed + octave)
        norm += amplitude
        amplitude *= 0.5
    return total / norm


def pattern(name: str, uv: np.ndarray, scale: float, seed: float = 0.0) -> np.ndarray:
    """Pattern ``name`` (one of TEXTURES) at ``uv`` (Nx2 metres), features about ``scale`` metres large."""
    u, v = uv[:, 0] / scale, uv[:, 1] / scale
    if name == "flat":
        return np.full(len(uv), 0.5)
    if name == "noise":
        return fractal_noise(u, v, seed)
    if name == "asphalt":
        return 0.6 * fractal_noise(u * 8, v * 8, seed, octaves=2) + 0.4 * value_noise(u, v, seed + 9)
    if name == "checker":
        return ((np.floor(u) + np.floor(v)) % 2) * 0.8 + 0.2 * value_noise(u * 4, v * 4, seed)
    if name == "stripes":
        return 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * u))
    if name == "bricks":
        row = np.floor(v * 3)
        shifted = u * 1.5 + 0.5 * (row % 2)
        mortar = (np.abs(v * 3 - np.round(v * 3)) < 0.06) | (np.abs(shifted - np.round(shifted)) < 0.04)
        return np.where(mortar, 1.0, 0.3 + 0.3 * _hash(np.floor(shifted), row, seed))
    if name == "windows":
        fu, fv = u - np.floor(u), v - np.floor(v)
        glass = (fu > 0.25) & (fu < 0.75) & (fv > 0.2) & (fv < 0.7)
        return np.where(glass, 0.05 + 0.2 * _hash(np.floor(u), np.floor(v), seed), 0.7)
    raise ValueError(f"unknown texture {name!r}; expected one of {TEXTURES}")
