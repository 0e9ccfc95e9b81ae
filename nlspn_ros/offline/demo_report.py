"""The demo's report: live vs offline comparison, metrics tables, latency, written as Markdown + JSON."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nlspn_ros.metrics import METRIC_NAMES
from nlspn_ros.offline.bag_evaluation import EvaluationResult
from nlspn_ros.offline.bag_report import jsonable, metrics_table

TOLERANCE = 1e-6


@dataclass
class Comparison:
    """Live (recorded node outputs) against offline (``evaluate`` on the same bag)."""

    same_frames: bool
    offline_stamps: list[int]
    live_stamps: list[int]
    max_metric_difference: float
    max_depth_difference: float | None  # over frames both have; NaN-aware (NaN == NaN)
    depth_bit_identical: bool | None

    @property
    def matches(self) -> bool:
        return self.same_frames and self.max_metric_difference <= TOLERANCE


def compare(offline: EvaluationResult, live: EvaluationResult, offline_depth: dict[int, np.ndarray],
            live_depth: dict[int, np.ndarray]) -> Comparison:
    offline_stamps = [f.image_stamp_ns for f in offline.frames]
    live_stamps = [f.image_stamp_ns for f in live.frames]
    same = offline_stamps == live_stamps
    difference = 0.0
    if same:
        for a, b in zip(offline.frames, live.frames, strict=True):
            difference = max(difference, *(abs(a.metrics[n] - b.metrics[n]) for n in METRIC_NAMES))
        difference = max(difference, *(abs(offline.overall[n] - live.overall[n]) for n in METRIC_NAMES))
    else:
        difference = math.inf
    common = sorted(set(offline_depth) & set(live_depth))
    depth_difference, identical = None, None
    if common:
        depth_difference = max(float(np.nanmax(np.abs(offline_depth[s] - live_depth[s]), initial=0.0))
                               for s in common)
        identical = all(offline_depth[s].tobytes() == live_depth[s].tobytes() for s in common)
    return Comparison(same, offline_stamps, live_stamps, difference, depth_difference, identical)


def latency_summary(values_ms: list[float]) -> dict[str, float]:
    if not values_ms:
        return {}
    array = np.asarray(values_ms, dtype=np.float64)
    return {"frames": int(array.size), "median": float(np.median(array)),
            "p90": float(np.percentile(array, 90)), "max": float(array.max())}


def stage_latency(result: EvaluationResult) -> dict[str, dict[str, float]]:
    """Median/p90/max per stage of the offline run (the node's own stage timings of process_frame)."""
    stages: dict[str, list[float]] = {}
    for frame in result.frames:
        for stage, ms in frame.timings_ms.items():
            stages.setdefault(stage, []).append(ms)
    return {stage: latency_summary(values) for stage, values in stages.items()}


@dataclass
class SourceReport:
    name: str
    bag: str
    recorded: str
    offline: EvaluationResult
    live: EvaluationResult
    comparison: Comparison
    live_latency_ms: list[float] = field(default_factory=list)
    replay: dict[str, Any] = field(default_factory=dict)
    baseline: EvaluationResult | None = None  # IP-Basic offline on the same frames (real data)


def _latency_table(rows: dict[str, dict[str, float]]) -> str:
    lines = ["| stage | frames | median (ms) | p90 (ms) | max (ms) |", "|---|---|---|---|---|"]
    for stage, s in rows.items():
        if s:
            lines.append(f"| {stage} | {s['frames']} | {s['median']:.1f} | {s['p90']:.1f} | {s['max']:.1f} |")
    return "\n".join(lines)


def write_report(folder: Path, sources: list[SourceReport], context: dict[str, Any]) -> Path:
    """``report.md`` and ``report.json`` in ``folder``; returns the Markdown path."""
    lines = ["# nlspn_ros demo report", ""]
    lines += [f"- {key}: {value}" for key, value in context.items()]
    all_match = all(s.comparison.matches for s in sources)
    lines += ["", f"**Live result matches offline `evaluate`: {'YES' if all_match else 'NO'}** "
              f"(same frames paired, every metric within {TOLERANCE:g})", ""]
    data: dict[str, Any] = {"context": context, "matches": all_match, "sources": {}}
    for source in sources:
        c = source.comparison
        stages = stage_latency(source.offline)
        stages["end_to_end_live"] = latency_summary(source.live_latency_ms)
        offline, live = source.offline, source.live
        lines += [f"## {source.name}", "",
                  f"bag `{source.bag}`, live recording `{source.recorded}`;",
                  f"reference: {offline.reference}", "",
                  f"- frames scored: offline {len(offline.frames)}, live {len(live.frames)}; "
                  f"same frames: {c.same_frames}",
                  f"- largest metric difference live vs offline: {c.max_metric_difference:.3g}",
                  f"- largest depth difference: {c.max_depth_difference} m "
                  f"(bit-identical: {c.depth_bit_identical})",
                  f"- replay: {source.replay}", ""]
        if offline.error or live.error:
            lines += [f"- errors: offline {offline.error}, live {live.error}", ""]
        if source.baseline is not None and source.baseline.frames:
            base = source.baseline.overall
            lines += ["### IP-Basic on the same frames (offline, the classical reference)", "",
                      metrics_table(source.baseline, markdown=True), "",
                      f"**{offline.method} / IP-Basic: RMSE {offline.overall['RMSE'] / base['RMSE']:.2f}x, "
                      f"MAE {offline.overall['MAE'] / base['MAE']:.2f}x**", ""]
        lines += ["### Offline (`nlspn_ros evaluate`)", "", metrics_table(offline, markdown=True), "",
                  "### Live (node outputs recorded from the graph)", "", metrics_table(live, markdown=True),
                  "", "### Latency per stage", "",
                  "convert/project/infer/mask: the node's stage timings of the offline run (same code); "
                  "end_to_end_live: image published -> completion received, through the live node.", "",
                  _latency_table(stages), "",
                  f"Panels: `{source.name}/offline/panels/` (image, sparse, dense, confidence, error).", ""]
        data["sources"][source.name] = {
            "bag": source.bag, "recorded": source.recorded, "replay": source.replay,
            "comparison": {**c.__dict__, "matches": c.matches},
            "offline": source.offline.as_dict(), "live": source.live.as_dict(), "latency_ms": stages,
            "ip_basic": None if source.baseline is None else source.baseline.as_dict(),
        }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(data, indent=2, default=jsonable))
    markdown = folder / "report.md"
    markdown.write_text("\n".join(lines))
    return markdown
