"""Node parameter files (ROS 2 YAML) -> :class:`NodeSettings`, so offline tools use the node's settings."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from nlspn_ros.pipeline.settings import BY_NAME, NodeSettings

log = logging.getLogger(__name__)
ROS_PARAMETERS = {"use_sim_time", "start_type_description_service"}  # every rclpy node has these


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"crop": {"x": 1}}`` -> ``{"crop.x": 1}`` (ROS 2 nested parameter names)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = list(value) if isinstance(value, list) else value
    return flat


def load_parameters(path: str | Path) -> dict[str, Any]:
    """All ``ros__parameters`` of a parameter file, merged over its node entries (``/**`` first)."""
    document = YAML(typ="safe").load(Path(path).read_text()) or {}
    merged: dict[str, Any] = {}
    for node in sorted(document, key=lambda name: name != "/**"):
        section = document[node] or {}
        merged.update(_flatten(section.get("ros__parameters", {})))
    return merged


def settings_from_files(*files: str | Path | None, **overrides: Any) -> NodeSettings:
    """Node defaults, then each parameter file in order, then ``overrides`` (parameter name -> value)."""
    values: dict[str, Any] = {}
    for file in files:
        if file is not None:
            values.update(load_parameters(file))
    values.update(overrides)
    unknown = sorted(set(values) - set(BY_NAME) - ROS_PARAMETERS)
    if unknown:
        log.warning("parameters the node does not declare (it ignores them too): %s", unknown)
    return NodeSettings.defaults().changed({k: v for k, v in values.items() if k in BY_NAME})
