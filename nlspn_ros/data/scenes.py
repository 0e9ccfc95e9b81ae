"""Random street-like and indoor-like scenes as lists of primitives, in the camera's optical frame.

The camera sits at the origin looking down +z (x right, y down); the ground is the plane
``y = camera_height``. Everything is drawn from one ``numpy.random.Generator``, so a scene is a pure
function of the generator's seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nlspn_ros.data.raycast import Box, Cylinder, Material, Plane, Primitive, Sphere

SCENE_KINDS = ("street", "indoor")


@dataclass
class Scene:
    kind: str
    objects: list[Primitive]
    camera_height: float
    light_dir: np.ndarray  # unit vector towards the light (world frame)
    sky_top: np.ndarray  # RGB 0..1 at the top of the image (street) / unused indoor
    sky_bottom: np.ndarray


def _color(rng: np.random.Generator, base: tuple[float, float, float], spread: float = 0.15) -> tuple:
    return tuple(float(c) for c in np.clip(np.asarray(base) + rng.uniform(-spread, spread, 3), 0.02, 1.0))


def _material(rng: np.random.Generator, base, textures: tuple[str, ...], scale=(0.3, 2.0), spread=0.15):
    return Material(
        albedo=_color(rng, base, spread),
        texture=str(rng.choice(textures)),
        scale=float(rng.uniform(*scale)),
        contrast=float(rng.uniform(0.15, 0.6)),
        reflectivity=float(rng.uniform(0.1, 0.9)),
    )


def _random_base(rng: np.random.Generator) -> tuple[float, float, float]:
    return tuple(float(c) for c in rng.uniform(0.1, 0.9, 3))


def _light(rng: np.random.Generator) -> np.ndarray:
    light = np.array([rng.uniform(-0.6, 0.6), -1.0, rng.uniform(-0.8, 0.3)])  # from above
    return light / np.linalg.norm(light)


def street_scene(rng: np.random.Generator) -> Scene:
    """A road between building rows with cars, poles, trees, bollards, signs and the odd sphere."""
    h = float(rng.uniform(1.55, 1.75))
    road_half = float(rng.uniform(3.5, 7.0))
    objects: list[Primitive] = [
        Plane(
            (0.0, -1.0, 0.0),
            -h,
            Material(_color(rng, (0.35, 0.35, 0.37), 0.08), "asphalt", float(rng.uniform(2, 6)), 0.35, 0.3),
        ),
    ]
    for side in (-1.0, 1.0):
        # sidewalk (kerb 0.15 m) and a row of buildings with gaps
        walk = float(rng.uniform(1.5, 3.5))
        objects.append(
            Box(
                (side * (road_half + walk / 2), h - 0.075, 60.0),
                (walk / 2, 0.075, 70.0),
                0.0,
                _material(rng, (0.6, 0.58, 0.55), ("checker", "noise"), (0.4, 1.0), 0.1),
            )
        )
        z = float(rng.uniform(-2, 6))
        while z < 90:
            length = float(rng.uniform(6, 25))
            if rng.random() < 0.8:
                depth_in = float(rng.uniform(5, 12))
                height = float(rng.uniform(4, 20))
                x = side * (road_half + walk + float(rng.uniform(0, 3)) + depth_in / 2)
                objects.append(
                    Box(
                        (x, h - height / 2, z + length / 2),
                        (depth_in / 2, height / 2, length / 2),
                        float(rng.normal(0, 0.05)),
                        _material(
                            rng, _random_base(rng), ("windows", "bricks", "noise", "stripes"), (1.0, 3.5)
                        ),
                    )
                )
            z += length + float(rng.uniform(0, 8))
        # poles, trees, bollards along the kerb
        for _ in range(int(rng.integers(2, 8))):
            pz = float(rng.uniform(3, 60))
            px = side * (road_half + float(rng.uniform(0.3, walk)))
            kind = rng.random()
            if kind < 0.4:  # pole (thin structure), sometimes with a sign
                top = h - float(rng.uniform(3, 8))
                objects.append(
                    Cylinder(
                        (px, pz),
                        float(rng.uniform(0.04, 0.15)),
                        top,
                        h,
                        _material(rng, (0.5, 0.5, 0.5), ("flat", "noise")),
                    )
                )
                if rng.random() < 0.5:
                    objects.append(
                        Box(
                            (px - side * 0.4, top + 0.5, pz),
                            (0.4, 0.3, 0.03),
                            0.0,
                            _material(rng, _random_base(rng), ("flat", "stripes"), (0.2, 0.5)),
                        )
                    )
            elif kind < 0.75:  # tree: trunk and crown
                crown = float(rng.uniform(1.2, 3.0))
                trunk_top = h - float(rng.uniform(2, 4))
                objects.append(
                    Cylinder(
                        (px, pz),
                        float(rng.uniform(0.12, 0.3)),
                        trunk_top - crown * 0.5,
                        h,
                        _material(rng, (0.35, 0.25, 0.15), ("noise",), (0.1, 0.4)),
                    )
                )
                objects.append(
                    Sphere(
                        (px, trunk_top - crown * 0.6, pz),
                        crown,
                        _material(rng, (0.2, 0.45, 0.15), ("noise",), (0.15, 0.5)),
                    )
                )
            else:  # bollard
                objects.append(
                    Cylinder(
                        (px, pz),
                        float(rng.uniform(0.1, 0.3)),
                        h - float(rng.uniform(0.5, 1.2)),
                        h,
                        _material(rng, _random_base(rng), ("flat", "stripes"), (0.1, 0.3)),
                    )
                )
    # cars on the road: body + cabin
    for _ in range(int(rng.integers(1, 9))):
        cz = float(rng.uniform(5, 55))
        cx = float(rng.uniform(-road_half + 1, road_half - 1))
        yaw = float(rng.normal(0, 0.15)) + (np.pi / 2 if rng.random() < 0.15 else 0.0)
        width, length, body_h = (
            float(rng.uniform(1.6, 2.0)),
            float(rng.uniform(3.8, 5.0)),
            float(rng.uniform(0.7, 1.0)),
        )
        color = _random_base(rng)
        objects.append(
            Box(
                (cx, h - 0.25 - body_h / 2, cz),
                (width / 2, body_h / 2, length / 2),
                yaw,
                _material(rng, color, ("flat", "noise"), (0.5, 2.0), 0.05),
            )
        )
        cabin_h = float(rng.uniform(0.45, 0.7))
        objects.append(
            Box(
                (cx, h - 0.25 - body_h - cabin_h / 2, cz + float(rng.uniform(-0.5, 0.3))),
                (width / 2 - 0.08, cabin_h / 2, length * 0.28),
                yaw,
                Material((0.1, 0.12, 0.15), "flat", 1.0, 0.1, 0.15),
            )
        )
    # a few free spheres / boxes (obstacles)
    for _ in range(int(rng.integers(0, 4))):
        radius = float(rng.uniform(0.3, 1.2))
        objects.append(
            Sphere(
                (float(rng.uniform(-road_half, road_half)), h - radius, float(rng.uniform(4, 40))),
                radius,
                _material(rng, _random_base(rng), ("checker", "noise", "stripes")),
            )
        )
    sky_top = np.array(_color(rng, (0.45, 0.62, 0.9), 0.1))
    return Scene("street", objects, h, _light(rng), sky_top, np.clip(sky_top + 0.25, 0, 1))


def indoor_scene(rng: np.random.Generator) -> Scene:
    """A room or corridor: floor, ceiling, walls, furniture boxes, table legs, columns, balls."""
    h = float(rng.uniform(1.0, 1.6))
    ceiling = float(rng.uniform(2.4, 3.5))
    half_width = float(rng.uniform(2.0, 6.0))
    length = float(rng.uniform(8.0, 30.0))
    wall_textures = ("noise", "bricks", "stripes", "flat", "checker")
    objects: list[Primitive] = [
        Plane(
            (0.0, -1.0, 0.0),
            -h,
            _material(rng, (0.55, 0.45, 0.35), ("checker", "noise", "stripes"), (0.3, 1.0)),
        ),
        Plane(
            (0.0, 1.0, 0.0),
            ceiling - h,
            _material(rng, (0.85, 0.85, 0.82), ("flat", "checker"), (0.6, 1.2), 0.05),
        ),
        Plane((1.0, 0.0, 0.0), -half_width, _material(rng, _random_base(rng), wall_textures, (0.3, 2.0))),
        Plane((1.0, 0.0, 0.0), half_width, _material(rng, _random_base(rng), wall_textures, (0.3, 2.0))),
        Plane((0.0, 0.0, 1.0), length, _material(rng, _random_base(rng), wall_textures, (0.3, 2.0))),
    ]
    floor_y = h
    for _ in range(int(rng.integers(3, 12))):  # furniture
        size = rng.uniform([0.2, 0.3, 0.2], [1.2, 1.1, 1.5])
        x = float(rng.uniform(-half_width + size[0], half_width - size[0]))
        z = float(rng.uniform(1.5, length - size[2]))
        objects.append(
            Box(
                (x, floor_y - size[1], z),
                tuple(float(s) for s in size),
                float(rng.uniform(-0.6, 0.6)),
                _material(rng, _random_base(rng), ("flat", "noise", "stripes", "checker"), (0.1, 0.6)),
            )
        )
    for _ in range(int(rng.integers(0, 3))):  # tables: top + thin legs
        tx, tz = float(rng.uniform(-half_width + 1, half_width - 1)), float(rng.uniform(2, length - 2))
        top_y = floor_y - float(rng.uniform(0.7, 0.8))
        half = (float(rng.uniform(0.4, 0.9)), 0.025, float(rng.uniform(0.3, 0.6)))
        mat = _material(rng, _random_base(rng), ("noise", "flat"), (0.1, 0.3))
        objects.append(Box((tx, top_y, tz), half, 0.0, mat))
        for sx in (-1, 1):
            for sz in (-1, 1):
                objects.append(
                    Cylinder(
                        (tx + sx * (half[0] - 0.05), tz + sz * (half[2] - 0.05)), 0.025, top_y, floor_y, mat
                    )
                )
    for _ in range(int(rng.integers(0, 3))):  # columns
        objects.append(
            Cylinder(
                (float(rng.uniform(-half_width + 0.5, half_width - 0.5)), float(rng.uniform(2, length - 1))),
                float(rng.uniform(0.1, 0.4)),
                h - ceiling,
                floor_y,
                _material(rng, _random_base(rng), ("flat", "noise")),
            )
        )
    for _ in range(int(rng.integers(0, 4))):  # balls
        radius = float(rng.uniform(0.1, 0.5))
        objects.append(
            Sphere(
                (
                    float(rng.uniform(-half_width + 0.5, half_width - 0.5)),
                    floor_y - radius,
                    float(rng.uniform(1.5, length - 1)),
                ),
                radius,
                _material(rng, _random_base(rng), ("checker", "stripes", "noise"), (0.05, 0.3)),
            )
        )
    gray = np.array([0.5, 0.5, 0.5])
    return Scene("indoor", objects, h, _light(rng), gray, gray)


def random_scene(rng: np.random.Generator, kind: str | None = None) -> Scene:
    """A scene of ``kind`` ('street' or 'indoor'); None picks street 75% of the time."""
    if kind is None:
        kind = "street" if rng.random() < 0.75 else "indoor"
    if kind == "street":
        return street_scene(rng)
    if kind == "indoor":
        return indoor_scene(rng)
    raise ValueError(f"unknown scene kind {kind!r}; expected one of {SCENE_KINDS} or None")
