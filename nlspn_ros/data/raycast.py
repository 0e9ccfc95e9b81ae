"""Vectorized ray casting against analytic primitives (numpy, one loop over objects, none over rays).

All rays of one cast share an origin (a pinhole camera or a spinning LiDAR). Coordinates are the
scene's world frame; the generator uses the camera's optical frame (x right, y down, z forward), so
"up" is -y. Each primitive returns the ray parameter ``t`` of its first hit (``inf`` for a miss) for
unit directions, so ``t`` is the range; :func:`cast` keeps the nearest and reports per ray the hit
point, the surface normal (facing the ray), the object index and 2D surface coordinates for textures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

_EPS = 1e-6


@dataclass(frozen=True)
class Material:
    """Surface look: ``albedo`` RGB in 0..1, a procedural ``texture`` (see textures.py) at ``scale`` metres,
    its ``contrast`` (0 = flat), and the LiDAR ``reflectivity`` (0..1, also drives dropouts)."""

    albedo: tuple[float, float, float]
    texture: str = "noise"
    scale: float = 1.0
    contrast: float = 0.3
    reflectivity: float = 0.5


@dataclass(frozen=True)
class Plane:
    """Infinite plane ``normal . x = offset`` (``normal`` unit length)."""

    normal: tuple[float, float, float]
    offset: float
    material: Material

    def hit(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        n = np.asarray(self.normal)
        denom = dirs @ n
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (self.offset - origin @ n) / denom
        return np.where((np.abs(denom) > _EPS) & (t > _EPS), t, np.inf)

    def bounds(self) -> None:
        return None  # unbounded

    def normals(self, points: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.normal, dtype=np.float64), points.shape)

    def surface_uv(self, points: np.ndarray) -> np.ndarray:
        u_axis, v_axis = _tangents(np.asarray(self.normal))
        return np.stack([points @ u_axis, points @ v_axis], axis=-1)


@dataclass(frozen=True)
class Box:
    """Box centred at ``center``, half sizes ``half`` (x, y, z), turned by ``yaw`` about the vertical axis."""

    center: tuple[float, float, float]
    half: tuple[float, float, float]
    yaw: float
    material: Material

    def _rotation(self) -> np.ndarray:  # local -> world, rotation about the y (vertical) axis
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])

    def _local(self, points: np.ndarray) -> np.ndarray:
        return (points - np.asarray(self.center)) @ self._rotation()

    def hit(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        rot = self._rotation()
        o = (origin - np.asarray(self.center)) @ rot
        d = dirs @ rot
        half = np.asarray(self.half)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / d
            t1, t2 = (-half - o) * inv, (half - o) * inv
        t1 = np.nan_to_num(t1, nan=-np.inf)
        t2 = np.nan_to_num(t2, nan=np.inf)
        t_near = np.minimum(t1, t2).max(axis=-1)
        t_far = np.maximum(t1, t2).min(axis=-1)
        t = np.where(t_near > _EPS, t_near, t_far)  # origin inside: the exit face
        return np.where((t_near <= t_far) & (t > _EPS), t, np.inf)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        extent = np.abs(self._rotation()) @ np.asarray(self.half)
        return np.asarray(self.center) - extent, np.asarray(self.center) + extent

    def normals(self, points: np.ndarray) -> np.ndarray:
        local = self._local(points) / np.asarray(self.half)
        axis = np.abs(local).argmax(axis=-1)
        n_local = np.zeros_like(local)
        n_local[np.arange(len(local)), axis] = np.sign(local[np.arange(len(local)), axis])
        return n_local @ self._rotation().T

    def surface_uv(self, points: np.ndarray) -> np.ndarray:
        local = self._local(points)
        axis = np.abs(local / np.asarray(self.half)).argmax(axis=-1)
        # x faces: (z, y); y faces: (x, z); z faces: (x, y)
        u = np.where(axis == 0, local[:, 2], local[:, 0])
        v = np.where(axis == 1, local[:, 2], local[:, 1])
        return np.stack([u, v], axis=-1)


@dataclass(frozen=True)
class Sphere:
    center: tuple[float, float, float]
    radius: float
    material: Material

    def hit(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        oc = origin - np.asarray(self.center)
        b = dirs @ oc
        c = oc @ oc - self.radius**2
        disc = b * b - c
        root = np.sqrt(np.maximum(disc, 0.0))
        t = np.where(-b - root > _EPS, -b - root, -b + root)
        return np.where((disc >= 0) & (t > _EPS), t, np.inf)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.center) - self.radius, np.asarray(self.center) + self.radius

    def normals(self, points: np.ndarray) -> np.ndarray:
        return (points - np.asarray(self.center)) / self.radius

    def surface_uv(self, points: np.ndarray) -> np.ndarray:
        p = points - np.asarray(self.center)
        return np.stack([np.arctan2(p[:, 0], p[:, 2]) * self.radius, p[:, 1]], axis=-1)


@dataclass(frozen=True)
class Cylinder:
    """Vertical cylinder (axis along y) at (x, z) = ``base_xz``, from ``y_top`` to ``y_bottom``, top cap."""

    base_xz: tuple[float, float]
    radius: float
    y_top: float
    y_bottom: float
    material: Material

    def hit(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        ox, oz = origin[0] - self.base_xz[0], origin[2] - self.base_xz[1]
        dx, dz = dirs[:, 0], dirs[:, 2]
        a = dx * dx + dz * dz
        b = dx * ox + dz * oz
        c = ox * ox + oz * oz - self.radius**2
        disc = b * b - a * c
        with np.errstate(divide="ignore", invalid="ignore"):
            t_side = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
            y = origin[1] + t_side * dirs[:, 1]
            side_ok = (disc >= 0) & (a > _EPS) & (t_side > _EPS) & (y > self.y_top) & (y < self.y_bottom)
            t_cap = (self.y_top - origin[1]) / dirs[:, 1]
            cap_x = ox + t_cap * dx
            cap_z = oz + t_cap * dz
            cap_ok = (t_cap > _EPS) & (cap_x * cap_x + cap_z * cap_z <= self.radius**2)
        return np.minimum(np.where(side_ok, t_side, np.inf), np.where(cap_ok, t_cap, np.inf))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        x, z, r = self.base_xz[0], self.base_xz[1], self.radius
        return np.array([x - r, self.y_top, z - r]), np.array([x + r, self.y_bottom, z + r])

    def normals(self, points: np.ndarray) -> np.ndarray:
        n = np.zeros_like(points)
        n[:, 0] = points[:, 0] - self.base_xz[0]
        n[:, 2] = points[:, 2] - self.base_xz[1]
        on_cap = np.abs(points[:, 1] - self.y_top) < 1e-4
        n[on_cap] = (0.0, -1.0, 0.0)
        return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), _EPS)

    def surface_uv(self, points: np.ndarray) -> np.ndarray:
        angle = np.arctan2(points[:, 0] - self.base_xz[0], points[:, 2] - self.base_xz[1])
        return np.stack([angle * self.radius, points[:, 1]], axis=-1)


Primitive = Plane | Box | Sphere | Cylinder


@dataclass
class Hits:
    """Per ray: ``t`` (range, inf = no hit), ``index`` into the object list (-1 = none), and for hits only
    (rows where ``index >= 0``, in order) ``points``, unit ``normals`` facing the ray and texture ``uv``."""

    t: np.ndarray
    index: np.ndarray
    points: np.ndarray
    normals: np.ndarray
    uv: np.ndarray

    @property
    def hit(self) -> np.ndarray:
        return self.index >= 0


def cast(
    objects: list[Primitive],
    origin: np.ndarray,
    dirs: np.ndarray,
    max_range: float,
    candidates: Callable[[np.ndarray, np.ndarray], np.ndarray | None] | None = None,
) -> Hits:
    """Nearest hit of every ray (``dirs`` Nx3 unit vectors from ``origin``) within ``max_range``.

    ``candidates(lo, hi)``, optional: the indices of the rays that may hit an object inside the
    axis-aligned box ``lo..hi`` (a superset is fine; None = all rays). It only saves time.
    """
    origin = np.asarray(origin, dtype=np.float64)
    best_t = np.full(len(dirs), np.inf)
    best_index = np.full(len(dirs), -1, dtype=np.int32)
    for i, obj in enumerate(objects):
        box = obj.bounds()
        rows = candidates(*box) if (candidates is not None and box is not None) else None
        if rows is None:
            t = obj.hit(origin, dirs)
            closer = t < best_t
            best_t[closer] = t[closer]
            best_index[closer] = i
            continue
        if len(rows) == 0:
            continue
        t = obj.hit(origin, dirs[rows])
        closer = t < best_t[rows]
        best_t[rows[closer]] = t[closer]
        best_index[rows[closer]] = i
    miss = best_t > max_range
    best_t[miss] = np.inf
    best_index[miss] = -1

    hit_rows = np.flatnonzero(best_index >= 0)
    points = origin + dirs[hit_rows] * best_t[hit_rows, None]
    normals = np.zeros_like(points)
    uv = np.zeros((len(hit_rows), 2))
    hit_index = best_index[hit_rows]
    for i in np.unique(hit_index):
        rows = hit_index == i
        normals[rows] = objects[i].normals(points[rows])
        uv[rows] = objects[i].surface_uv(points[rows])
    facing = np.sum(normals * dirs[hit_rows], axis=-1) > 0
    normals[facing] *= -1.0
    return Hits(best_t, best_index, points, normals, uv)


def _tangents(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    helper = np.array([1.0, 0.0, 0.0]) if abs(normal[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
    u = np.cross(normal, helper)
    u /= np.linalg.norm(u)
    return u, np.cross(normal, u)
