"""The completer a set of node settings asks for: one factory for the node and the offline tools."""
from __future__ import annotations

from nlspn_ros.completion import Completer
from nlspn_ros.node_settings import NodeSettings


class ModelLoadError(RuntimeError):
    """The completer (model file, device, configuration) cannot be made."""


def build_completer(settings: NodeSettings) -> Completer:
    """The completer the read-only parameters ask for; :class:`ModelLoadError` if it cannot be made."""
    method = settings["method"]
    try:
        if method == "ip_basic":
            from nlspn_ros.baseline import IPBasicCompleter

            return IPBasicCompleter(max_depth=settings["max_depth"])
        from nlspn_ros.inference import NLSPNCompleter

        return NLSPNCompleter(
            checkpoint=settings["checkpoint"] or None,
            device=settings["device"],
            precision=settings["precision"],
            config_overrides=settings.model_overrides or None,
        )
    except Exception as exc:  # noqa: BLE001 - any failure here means "no model": say which and why
        source = settings["checkpoint"] or "the embedded default model"
        raise ModelLoadError(
            f"cannot load the {method} model ({source}): {type(exc).__name__}: {exc}"
        ) from exc


def apply_prop_time(completer: Completer, settings: NodeSettings, default: int | None) -> None:
    """Set the propagation steps from ``settings['prop_time']`` (-1 = ``default``, the checkpoint's).

    ``default`` is None for completers without propagation (IP-Basic): nothing to set.
    """
    if default is None:
        return
    wanted = default if settings["prop_time"] < 0 else settings["prop_time"]
    if completer.prop_time != wanted:
        completer.prop_time = wanted
