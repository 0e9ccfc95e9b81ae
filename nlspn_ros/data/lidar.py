"""A simulated spinning multi-beam LiDAR (default: Velodyne HDL-64E as mounted on the KITTI car).

Beams fire at fixed elevations while the head turns in azimuth steps; only the azimuth sector that
can reach the camera (``sector_deg`` either side of the LiDAR's +x axis) is simulated, to save time.
Each return gets Gaussian range noise and may drop out: at random, more on dark (low reflectivity)
surfaces and at grazing incidence. Points are Nx4 float32 (x, y, z, intensity) in the LiDAR frame
(x forward, y left, z up), as in a KITTI ``velodyne/*.bin`` file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nlspn_ros.data.raycast import Primitive, cast


def hdl64e_elevations_deg() -> np.ndarray:
    """HDL-64E: upper block +2 .. -8.33 deg (1/3 deg apart), lower block -8.83 .. -24.33 deg (1/2 deg)."""
    upper = 2.0 - np.arange(32) / 3.0
    lower = -8.83 - np.arange(32) * 0.5
    return np.concatenate([upper, lower])


@dataclass(frozen=True)
class LidarModel:
    elevations_deg: tuple[float, ...] = tuple(hdl64e_elevations_deg().tolist())
    azimuth_step_deg: float = 0.12  # gives KITTI-like ~4-5% valid pixels at 1216x352
    sector_deg: float = 50.0  # simulate azimuths within +-sector of +x
    max_range: float = 90.0
    min_range: float = 0.9
    range_noise_m: float = 0.02  # HDL-64E: < 2 cm (1 sigma)
    dropout: float = 0.05  # random loss of a return
    dark_dropout: float = 0.25  # extra loss on a surface of reflectivity 0 (linear to 0 at reflectivity 1)
    grazing_cos: float = 0.12  # returns at incidence cosines below this are lost

    def directions(self) -> np.ndarray:
        """Unit beam directions in the LiDAR frame, (beams * steps) x 3, beam-major."""
        elevation = np.deg2rad(np.asarray(self.elevations_deg))
        steps = int(np.floor(self.sector_deg / self.azimuth_step_deg))
        azimuth = np.deg2rad(np.arange(-steps, steps + 1) * self.azimuth_step_deg)
        el, az = np.meshgrid(elevation, azimuth, indexing="ij")
        return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1).reshape(
            -1, 3
        )


def sweep(
    objects: list[Primitive],
    t_world_lidar: np.ndarray,
    reflectivity: np.ndarray,
    lidar: LidarModel,
    rng: np.random.Generator,
) -> np.ndarray:
    """Simulate one sweep of ``lidar`` posed at ``t_world_lidar`` (4x4) in a scene; Nx4 float32 points.

    ``reflectivity[i]``: LiDAR reflectivity of ``objects[i]`` (0..1).
    """
    dirs_lidar = lidar.directions()
    rotation, origin = t_world_lidar[:3, :3], t_world_lidar[:3, 3]
    dirs_world = dirs_lidar @ rotation.T
    hits = cast(objects, origin, dirs_world, lidar.max_range)
    rows = np.flatnonzero(hits.hit)
    cos_incidence = np.abs(np.sum(hits.normals * dirs_world[rows], axis=-1))
    refl = reflectivity[hits.index[rows]]
    p_drop = lidar.dropout + lidar.dark_dropout * (1.0 - refl)
    keep = (
        (rng.random(len(rows)) >= p_drop)
        & (cos_incidence >= lidar.grazing_cos)
        & (hits.t[rows] >= lidar.min_range)
    )
    rows, cos_incidence, refl = rows[keep], cos_incidence[keep], refl[keep]
    ranges = hits.t[rows] + rng.normal(0.0, lidar.range_noise_m, len(rows))
    xyz = dirs_lidar[rows] * ranges[:, None]
    intensity = np.clip(refl * (0.3 + 0.7 * cos_incidence) + rng.normal(0, 0.03, len(rows)), 0.0, 1.0)
    return np.concatenate([xyz, intensity[:, None]], axis=1).astype(np.float32)
