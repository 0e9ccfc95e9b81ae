"""Training on a rosbag2 sensor bag: its frames through the node's own pipeline."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from nlspn_ros.bag.make import params_beside
from nlspn_ros.completion import Completion
from nlspn_ros.data.datasets import AugmentedDataset
from nlspn_ros.offline.bag_evaluation import Evaluator
from nlspn_ros.pipeline.param_files import settings_from_files


class BagFramesDataset(AugmentedDataset):
    """Frames of a rosbag2 sensor bag, through the node's own pipeline (pairing, projection, crop).

    The bag is read once with :class:`nlspn_ros.offline.bag_evaluation.Evaluator` and the node settings of
    ``params`` (default: ``<bag>.params.yaml`` when it exists, as ``nlspn_ros evaluate`` does). The
    target of each frame is the bag's ground-truth depth topic when it has one, else ``holdout`` of
    the projected LiDAR pixels (drawn with ``rng([seed, image stamp])``), removed from the input.
    Frames are kept in memory (bags for fine-tuning are small); ``crop`` must fit the output size.
    """

    def __init__(
        self,
        bag: str | Path,
        holdout: float = 0.2,
        crop: tuple[int, int] | None = None,
        seed: int = 0,
        params: list[Path] | None = None,
    ) -> None:
        super().__init__(crop, seed)
        settings = settings_from_files(*(params_beside(bag) if params is None else params))
        self.frames: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        evaluator = Evaluator(bag, completer=_InputCollector(), settings=settings, holdout=holdout, seed=seed)
        result = evaluator.run(
            lambda _frame, data: self.frames.append((data.rgb, data.sparse, data.reference))
        )
        self.dropped = dict(result.dropped)
        if result.error:
            raise ValueError(f"{bag}: {result.error}")
        if not self.frames:
            raise ValueError(f"{bag}: no usable frames (dropped: {self.dropped})")

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self._sample(index, *self.frames[index])


class _InputCollector:
    """A completer that completes nothing: walking the evaluator's pipeline yields the inputs we want."""

    name = "inputs"
    device = "cpu"
    prop_time = None
    max_depth = None

    def complete(self, rgb: np.ndarray, sparse: np.ndarray):
        return Completion(np.zeros_like(sparse), None, {})

    def release(self) -> None:
        """Nothing to give back."""
