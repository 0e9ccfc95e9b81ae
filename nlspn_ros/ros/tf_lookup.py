"""The extrinsic from TF with tf2_ros: a Buffer and a TransformListener on the node (thin layer).

tf2_ros ships with every ROS 2 distribution but not on PyPI: where it is missing this module still
imports, :data:`AVAILABLE` is False and the node relies on its extrinsic parameters
(:func:`nlspn_ros.pipeline.extrinsic_source.configure_notice` says so). What to look up, what a failure
counts as and what is said are decided in :mod:`nlspn_ros.pipeline.extrinsic_source`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rclpy.duration import Duration
from rclpy.time import Time

from nlspn_ros.pipeline import extrinsic_source
from nlspn_ros.pipeline.extrinsic_source import TF_MISSING, TF_TOO_OLD, TransformRequest

try:
    import tf2_ros
except ImportError:  # no ROS distribution (the PyPI wheels have no tf2): parameters only
    tf2_ros = None

AVAILABLE = tf2_ros is not None


class TfLookup:
    """``lookup(request, timeout_s) -> 4x4`` through a tf2_ros Buffer filled by a TransformListener.

    The listener's /tf and /tf_static subscriptions live on ``node`` and run in its executor (tf2's
    default QoS: /tf_static transient local, so transforms latched before the node started arrive);
    the lookup runs in the node's worker thread and may wait up to ``timeout_s`` for a dynamic
    transform to reach the image's stamp. The Buffer uses the node's clock (sim time included).
    """

    def __init__(self, node: Any) -> None:
        if tf2_ros is None:
            raise RuntimeError("tf2_ros is not installed")
        self._node = node
        self.buffer = tf2_ros.Buffer(node=node)
        self.listener = tf2_ros.TransformListener(self.buffer, node)

    def __call__(self, request: TransformRequest, timeout_s: float) -> np.ndarray:
        try:
            stamped = self.buffer.lookup_transform(
                request.target_frame,
                request.source_frame,
                Time(nanoseconds=request.stamp_ns, clock_type=self._node.get_clock().clock_type),
                timeout=Duration(nanoseconds=int(timeout_s * 1e9)),
            )
        except tf2_ros.ExtrapolationException as exc:  # connected, but not at this stamp
            raise extrinsic_source.lookup_failed(TF_TOO_OLD, request, str(exc)) from exc
        except tf2_ros.TransformException as exc:  # unknown frame, no chain between them, bad name
            raise extrinsic_source.lookup_failed(TF_MISSING, request, str(exc)) from exc
        return extrinsic_source.matrix_from_transform(stamped.transform)

    def close(self) -> None:
        """Drop the subscriptions and the Buffer's ``tf2_frames`` service (lifecycle cleanup)."""
        self.listener.unregister()
        service = getattr(self.buffer, "srv", None)
        if service is not None:
            self._node.destroy_service(service)
