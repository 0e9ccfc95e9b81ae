"""Motion compensation (deskewing) of a LiDAR sweep to the image's timestamp.

A spinning LiDAR measures its points over ~0.1 s while the vehicle moves; each point is in the
LiDAR frame *at its own measurement time*. Given per-point times relative to the image stamp and
the sensor's velocity, :class:`ConstantVelocity` moves every point into the LiDAR frame at the
image stamp, which is what the extrinsics and the camera expect.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ConstantVelocity:
    """The LiDAR moves with constant linear and angular velocity during the sweep.

    ``times``: (N,) seconds of each point relative to the reference (image) stamp, negative =
    measured before it. ``linear`` (m/s) and ``angular`` (rad/s): the LiDAR's velocity, both
    expressed in the LiDAR frame at the reference stamp (e.g. a ``geometry_msgs/Twist`` from
    odometry, rotated into the LiDAR frame). The frame at time t is the reference frame rotated by
    ``angular * t`` (about its origin) and moved by ``linear * t``, so a point measured at t is at
    ``Rot(angular * t) @ X + linear * t`` in the reference frame.
    """

    times: np.ndarray
    linear: Sequence[float] | np.ndarray = (0.0, 0.0, 0.0)
    angular: Sequence[float] | np.ndarray = (0.0, 0.0, 0.0)

    def apply(self, xyz: np.ndarray) -> np.ndarray:
        """(N, 3) points at their measurement times -> (N, 3) float32 points at the reference stamp."""
        times = np.asarray(self.times, dtype=np.float32).ravel()
        if times.shape[0] != xyz.shape[0]:
            raise ValueError(f"motion compensation: {times.shape[0]} times for {xyz.shape[0]} points")
        linear = np.asarray(self.linear, dtype=np.float64).ravel()
        angular = np.asarray(self.angular, dtype=np.float64).ravel()
        if linear.size != 3 or angular.size != 3 or not np.all(np.isfinite(np.r_[linear, angular])):
            raise ValueError(f"motion: linear, angular must be 3 finite numbers each: {linear}, {angular}")
        out = np.array(xyz, dtype=np.float32)
        rate = float(np.linalg.norm(angular))
        if rate > 0:
            # Rodrigues' formula about the fixed axis, angle rate * t per point.
            axis = (angular / rate).astype(np.float32)
            angle = rate * times
            cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
            along = (out @ axis)[:, None] * axis
            out = out * cos + np.cross(axis, out) * sin + along * (1.0 - cos)
        return out + times[:, None] * linear.astype(np.float32)
