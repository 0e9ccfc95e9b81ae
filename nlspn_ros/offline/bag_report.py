"""Run an evaluation with progress bar, panels and metrics.json; print the metrics table."""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from nlspn_ros.completion import Completer
from nlspn_ros.completion.factory import apply_prop_time, build_completer
from nlspn_ros.metrics import METRIC_NAMES
from nlspn_ros.offline.bag_evaluation import (
    EvaluationResult,
    Evaluator,
    FrameData,
    FrameResult,
    transform_from_tf,
)
from nlspn_ros.offline.panels import write_panels
from nlspn_ros.pipeline.param_files import load_parameters, settings_from_files

# Displayed as the KITTI benchmark does: RMSE/MAE in mm, iRMSE/iMAE in 1/km.
DISPLAY_SCALE = {"RMSE": 1000.0, "MAE": 1000.0, "iRMSE": 1000.0, "iMAE": 1000.0, "near_phantom": 100.0}
DISPLAY_UNITS = {"RMSE": "mm", "MAE": "mm", "iRMSE": "1/km", "iMAE": "1/km", "near_phantom": "%"}
COLUMNS = (*METRIC_NAMES, "near_phantom")  # near_phantom: share of targets predicted nearer than half


def evaluate_bag(bag: str | Path, *, params: list[Path] = (), overrides: dict[str, Any] | None = None,
                 output: Path | None = None, panels: bool = False, holdout: float = 0.2, seed: int = 0,
                 mode: str = "auto", protocol: str = "pixels", progress: bool = True,
                 topics: dict[str, str | None] | None = None,
                 completer: Completer | None = None,
                 on_frame: Callable[[FrameResult, FrameData], None] | None = None
                 ) -> EvaluationResult:
    """Evaluate ``bag`` (see :class:`Evaluator`) with the node settings of ``params`` files + ``overrides``;
    writes ``output/metrics.json`` and ``output/panels/``."""
    overrides = dict(overrides or {})
    evaluator = Evaluator(bag, holdout=holdout, seed=seed, mode=mode, completer=completer, protocol=protocol,
                          **{k: v for k, v in (topics or {}).items() if v})
    given = set(overrides).union(*(load_parameters(p) for p in params))
    if evaluator.mode == "offline" and not any(name.startswith("t_cam_lidar") for name in given):
        tf = transform_from_tf(evaluator.reader, evaluator.topics)  # the bag's /tf_static, if any
        if tf is not None:
            overrides["t_cam_lidar"] = tf.ravel().tolist()
    settings = settings_from_files(*params, **overrides)
    evaluator.settings = settings
    if evaluator.mode == "offline" and completer is None:
        evaluator.completer = build_completer(settings)
        apply_prop_time(evaluator.completer, settings, evaluator.completer.prop_time)
    bar = tqdm(total=evaluator.expected_frames(), unit="frame", disable=not progress,
               desc=f"evaluate {Path(bag).name}")

    def each_frame(frame: FrameResult, data: FrameData) -> None:
        if on_frame is not None:
            on_frame(frame, data)
        if panels and output is not None:
            write_panels(output / "panels" / f"frame_{frame.index:04d}.png", data,
                         f"frame {frame.index} @ {frame.image_stamp_ns * 1e-9:.3f} s")

    try:
        result = evaluator.run(each_frame, progress=bar.update)
    finally:
        bar.close()
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        (output / "metrics.json").write_text(json.dumps(result.as_dict(), indent=2, default=jsonable))
    return result


def jsonable(value: Any) -> Any:
    """``json.dumps`` default for numpy values (arrays and scalars)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _cell(name: str, value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value * DISPLAY_SCALE.get(name, 1.0):.4f}" if name in ("REL", "D1", "D2", "D3") else \
        f"{value * DISPLAY_SCALE.get(name, 1.0):.2f}" if name == "near_phantom" else \
        f"{value * DISPLAY_SCALE.get(name, 1.0):.1f}"


def metrics_table(result: EvaluationResult, markdown: bool = False) -> str:
    """Per-frame rows and the overall mean, KITTI display units."""
    header = ["frame", "stamp (s)", "ref px", *[f"{n} ({DISPLAY_UNITS[n]})" if n in DISPLAY_UNITS else n
                                                for n in COLUMNS]]
    rows = [[str(f.index), f"{f.image_stamp_ns * 1e-9:.3f}", str(f.reference_pixels),
             *[_cell(n, f.metrics.get(n)) for n in COLUMNS]] for f in result.frames]
    rows.append(["mean", "", str(sum(f.reference_pixels for f in result.frames)),
                 *[_cell(n, result.overall.get(n)) for n in COLUMNS]])
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), *(fmt.format(*r) for r in rows)])


def print_table(result: EvaluationResult) -> None:
    print(f"{result.bag}: {result.mode} evaluation, {result.method}, {len(result.frames)} frames, "
          f"reference: {result.reference}")
    print(metrics_table(result))
    if result.dropped:
        print(f"not scored: {result.dropped}")
