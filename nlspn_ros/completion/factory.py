"""The completer a set of node settings asks for: one factory for the node and the offline tools,
and the runtime parameters a built completer applies (or refuses)."""
from __future__ import annotations

from nlspn_ros.completion import Completer
from nlspn_ros.pipeline.settings import NodeSettings


class ModelLoadError(RuntimeError):
    """The completer (model file, device, configuration) cannot be made."""


def build_completer(settings: NodeSettings) -> Completer:
    """The completer the read-only parameters ask for; :class:`ModelLoadError` if it cannot be made.

    Args:
        settings: reads ``method``; for ``ip_basic`` ``max_depth`` (metres), for ``nlspn``
            ``checkpoint`` (empty = the shipped default), ``device``, ``precision`` and
            ``model_overrides`` (the parsed ``model_config``). The NLSPN completer gets no depth
            limit: the frame pipeline masks its output.

    Returns:
        An ``IPBasicCompleter`` or an ``NLSPNCompleter``.

    Raises:
        ModelLoadError: any failure to build it, with the method, the source and the cause.
    """
    method = settings.method
    try:
        if method == "ip_basic":
            from nlspn_ros.completion.ip_basic import IPBasicCompleter

            return IPBasicCompleter(max_depth=settings.max_depth)
        from nlspn_ros.completion.nlspn import NLSPNCompleter

        return NLSPNCompleter(
            checkpoint=settings.checkpoint or None,
            device=settings.device,
            precision=settings.precision,
            config_overrides=settings.model_overrides or None,
        )
    except Exception as exc:  # noqa: BLE001 - any failure here means "no model": say which and why
        source = settings.checkpoint or "the embedded default model"
        raise ModelLoadError(
            f"cannot load the {method} model ({source}): {type(exc).__name__}: {exc}"
        ) from exc


def apply_prop_time(completer: Completer, settings: NodeSettings, default: int | None) -> None:
    """Set the propagation steps from ``settings.prop_time`` (-1 = ``default``, the checkpoint's).

    ``default`` is None for completers without propagation (IP-Basic): nothing to set.

    Args:
        completer: changed in place when its ``prop_time`` differs.
        settings: reads ``prop_time`` (iterations; -1 = ``default``).
        default: the checkpoint's ``prop_time``, or None.
    """
    if default is None:
        return
    wanted = default if settings.prop_time < 0 else settings.prop_time
    if completer.prop_time != wanted:
        completer.prop_time = wanted


def has_confidence(completer: Completer) -> bool:
    """Whether ``complete`` returns a confidence map (NLSPN with ``conf_prop``; IP-Basic never).

    Args:
        completer: any completer; one without a ``config`` has no confidence.

    Returns:
        True when its ``Completion.confidence`` is a map.
    """
    return bool(getattr(getattr(completer, "config", None), "conf_prop", False))


def check_settings(completer: Completer, settings: NodeSettings) -> None:
    """Raise :class:`ValueError` for a runtime parameter this completer could not apply: accepting
    it would change nothing (the node refuses it with this reason).

    Args:
        completer: the built completer.
        settings: reads ``method``, ``prop_time`` and ``confidence_threshold``.

    Raises:
        ValueError: ``prop_time`` >= 0 for a completer without propagation, or a
            ``confidence_threshold`` above 0 for one without confidence; the message names the
            parameter.
    """
    method = settings.method
    if settings.prop_time >= 0 and completer.prop_time is None:
        raise ValueError(f"prop_time: method {method} has no propagation steps (leave it at -1)")
    if settings.confidence_threshold > 0 and not has_confidence(completer):
        raise ValueError(
            f"confidence_threshold: method {method} (this model) gives no confidence (leave it at 0.0)"
        )


def apply_runtime_settings(
    completer: Completer, settings: NodeSettings, default_prop_time: int | None
) -> None:
    """Before each frame: give the completer the runtime parameters it holds itself.

    ``prop_time`` (see :func:`apply_prop_time`) and ``max_depth``, which IP-Basic's inversion needs
    (a completer built without a depth limit, like the node's NLSPN, has ``max_depth`` None and
    keeps it: its output is masked to ``max_depth`` by the frame pipeline).

    Args:
        completer: changed in place.
        settings: reads ``prop_time`` and ``max_depth`` (metres).
        default_prop_time: the checkpoint's ``prop_time``, or None without propagation.
    """
    apply_prop_time(completer, settings, default_prop_time)
    if completer.max_depth not in (None, settings.max_depth):
        completer.max_depth = float(settings.max_depth)
