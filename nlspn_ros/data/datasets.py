"""Torch datasets for training: synthetic frames (cached or rendered) and the KITTI DC folder layout.

Every item is a dict of float32 tensors ``rgb`` (3xHxW, ImageNet-normalized as the model expects),
``dep`` (1xHxW sparse input, metres, 0 = none) and ``gt`` (1xHxW, metres, 0 = no ground truth).
Training items are random ``crop`` patches, flipped left-right half of the time; evaluation items
are whole frames.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from nlspn_ros.completion.nlspn import normalize_rgb
from nlspn_ros.data.cache import cache_frames, frame_path, load_cached
from nlspn_ros.data.holdout import PROTOCOLS, held_out_rings, kitti_rings, pixel_holdout, ring_target
from nlspn_ros.data.kitti import KittiFrame, cut_to_box, dc_crop_box, frame_depth
from nlspn_ros.data.synthetic import KITTI_SIZE, render_frame

KITTI_DC_HEIGHT = 352  # official KITTI DC training crops the bottom 352 rows


def to_sample(rgb: np.ndarray, sparse: np.ndarray, gt: np.ndarray) -> dict[str, torch.Tensor]:
    """uint8 HxWx3 RGB + HxW depths -> the model's tensors (official normalization)."""
    return {
        "rgb": torch.from_numpy(normalize_rgb(rgb)),
        "dep": torch.from_numpy(np.ascontiguousarray(sparse, dtype=np.float32))[None],
        "gt": torch.from_numpy(np.ascontiguousarray(gt, dtype=np.float32))[None],
    }


def random_crop_flip(
    arrays: list[np.ndarray], crop: tuple[int, int], rng: np.random.Generator
) -> list[np.ndarray]:
    """The same random ``crop`` (height, width) of every array, flipped left-right with p = 0.5."""
    height, width = arrays[0].shape[:2]
    crop_h, crop_w = crop
    if crop_h > height or crop_w > width:
        raise ValueError(f"crop {crop_w}x{crop_h} is larger than the frame {width}x{height}")
    top = int(rng.integers(0, height - crop_h + 1))
    left = int(rng.integers(0, width - crop_w + 1))
    flip = rng.random() < 0.5
    out = []
    for array in arrays:
        patch = array[top : top + crop_h, left : left + crop_w]
        out.append(patch[:, ::-1] if flip else patch)
    return out


class AugmentedDataset(Dataset):
    """Shared crop/flip logic; ``seed`` + the item index + ``epoch`` seed each crop."""

    def __init__(self, crop: tuple[int, int] | None, seed: int) -> None:
        self.crop = crop
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _sample(self, index: int, rgb: np.ndarray, sparse: np.ndarray, gt: np.ndarray):
        if self.crop is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            rgb, sparse, gt = random_crop_flip([rgb, sparse, gt], self.crop, rng)
        return to_sample(rgb, sparse, gt)


class SyntheticDataset(AugmentedDataset):
    """Synthetic frames of ``seeds`` at ``size`` (width, height); with ``cache_dir`` they are rendered
    once and then read from ``.npz`` (a cache holds one size)."""

    def __init__(
        self,
        seeds,
        cache_dir: str | Path | None = None,
        crop: tuple[int, int] | None = None,
        seed: int = 0,
        size: tuple[int, int] = KITTI_SIZE,
    ) -> None:
        super().__init__(crop, seed)
        self.seeds = list(seeds)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.size = size

    def __len__(self) -> int:
        return len(self.seeds)

    def frame(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rgb, sparse, depth_gt) of item ``index``, uncropped."""
        seed = self.seeds[index]
        if self.cache_dir is None:
            frame = render_frame(seed, *self.size)
            return frame.rgb, frame.sparse, frame.depth_gt
        path = frame_path(self.cache_dir, seed)
        if not path.exists():
            cache_frames([seed], self.cache_dir, *self.size)
        data = load_cached(path)
        if data["rgb"].shape[1::-1] != tuple(self.size):
            raise ValueError(
                f"{path} holds a {data['rgb'].shape[1]}x{data['rgb'].shape[0]} frame, not {self.size}"
            )
        return data["rgb"], data["sparse"], data["depth_gt"]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self._sample(index, *self.frame(index))


def read_kitti_depth(path: str | Path) -> np.ndarray:
    """KITTI 16-bit PNG depth -> float32 metres (value / 256; 0 = none)."""
    image = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH)
    if image is None:
        raise FileNotFoundError(f"cannot read depth PNG {path}")
    if image.dtype != np.uint16:
        raise ValueError(f"{path}: KITTI depth must be a 16-bit PNG, got {image.dtype}")
    return image.astype(np.float32) / 256.0


class KittiDCDataset(AugmentedDataset):
    """KITTI depth completion as listed by an official NLSPN split JSON.

    ``{"train": [{"rgb": ..., "depth": ..., "gt": ..., "K": ...}, ...], "val": [...], "test": [...]}``,
    paths relative to ``root``. Frames are bottom-cropped to 352 rows as in the official loader.
    """

    def __init__(
        self,
        root: str | Path,
        split_json: str | Path,
        split: str = "train",
        crop: tuple[int, int] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(crop, seed)
        self.root = Path(root)
        listing = json.loads(Path(split_json).read_text())
        if split not in listing:
            raise ValueError(f"{split_json}: no {split!r} split (has {sorted(listing)})")
        self.entries = listing[split]
        for entry in self.entries[:1]:
            missing = {"rgb", "depth", "gt"} - set(entry)
            if missing:
                raise ValueError(f"{split_json}: entries need rgb/depth/gt paths, missing {sorted(missing)}")

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        entry = self.entries[index]
        bgr = cv2.imread(str(self.root / entry["rgb"]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"cannot read image {self.root / entry['rgb']}")
        sparse = read_kitti_depth(self.root / entry["depth"])
        gt = read_kitti_depth(self.root / entry["gt"])
        rgb = bgr[..., ::-1]
        rows = min(KITTI_DC_HEIGHT, rgb.shape[0])
        rgb, sparse, gt = rgb[-rows:], sparse[-rows:], gt[-rows:]
        return self._sample(index, rgb, sparse, gt)


class LidarHoldoutDataset(AugmentedDataset):
    """Real frames trained from their own LiDAR: part of the sweep is the input, the rest the target.

    Every time an item is drawn (seeded by ``seed``, the epoch and the index) it gets a new holdout:
    one of ``protocols`` (``pixels``: a share in ``pixel_share`` of the projected pixels held out;
    ``rings``: the even or the odd laser rings held out, see :mod:`nlspn_ros.data.holdout`).
    Frames are cut to KITTI depth completion's bottom-centre 1216x352 box (``dc_crop``; None keeps
    the whole image) before the random ``crop``. Projections are made once, at construction.
    """

    def __init__(
        self,
        frames: list[KittiFrame],
        crop: tuple[int, int] | None = None,
        seed: int = 0,
        protocols: tuple[str, ...] = PROTOCOLS,
        pixel_share: tuple[float, float] = (0.2, 0.5),
        dc_crop: tuple[int, int] | None = (352, 1216),
    ) -> None:
        super().__init__(crop, seed)
        unknown = set(protocols) - set(PROTOCOLS)
        if unknown or not protocols:
            raise ValueError(f"protocols must be a non-empty subset of {PROTOCOLS}, got {protocols}")
        if not 0.0 < pixel_share[0] <= pixel_share[1] < 1.0:
            raise ValueError(f"pixel_share must be 0 < low <= high < 1, got {pixel_share}")
        self.protocols = tuple(protocols)
        self.pixel_share = pixel_share
        self.names: list[str] = []
        self._frames: list[dict[str, np.ndarray]] = []
        for frame in frames:
            height, width = frame.rgb.shape[:2]
            box = dc_crop_box(width, height, dc_crop) if dc_crop else None
            item = {"rgb": cut_to_box(frame.rgb, box), "sparse": cut_to_box(frame_depth(frame), box)}
            if "rings" in self.protocols:
                held = held_out_rings(kitti_rings(frame.points), 0)
                even, odd = (cut_to_box(frame_depth(frame, rings), box) for rings in (held, ~held))
                item["rings_0"] = (odd, ring_target(odd, even))  # even rings held out
                item["rings_1"] = (even, ring_target(even, odd))
            self.names.append(frame.name)
            self._frames.append(item)
        if not self._frames:
            raise ValueError("no frames given")

    def __len__(self) -> int:
        return len(self._frames)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = self._frames[index]
        rng = np.random.default_rng([self.seed, self.epoch, index, 1])
        protocol = self.protocols[int(rng.integers(len(self.protocols)))]
        if protocol == "pixels":
            sparse, target = pixel_holdout(item["sparse"], float(rng.uniform(*self.pixel_share)), rng)
        else:
            sparse, target = item[f"rings_{int(rng.integers(2))}"]
        return self._sample(index, item["rgb"], sparse, target)
