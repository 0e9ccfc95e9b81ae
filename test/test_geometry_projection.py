"""Projection of LiDAR points into a sparse depth image: hand-computed cases, an independent loop
implementation, property tests for the z-buffer and the drop rules, motion compensation."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nlspn_ros.geometry import (
    CameraModel,
    ConstantVelocity,
    project_points,
    project_to_depth,
    transform_from_rpy,
)

# A small camera: 20x10 pixels, f = 10, principal point at (9.5, 4.5) = the image centre.
CAMERA = CameraModel.pinhole(20, 10, fx=10.0, fy=10.0, cx=9.5, cy=4.5)
IDENTITY = np.eye(4)
# LiDAR (x forward, y left, z up) -> optical frame (x right, y down, z forward).
T_OPTICAL_LIDAR = np.array([[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float)


def reference_projection(points, t_cam_lidar, camera, min_depth=0.1, max_depth=math.inf):
    """Point by point, float64, the way the docs describe it; the distortion formula of plumb_bob /
    rational_polynomial written out by hand (no OpenCV)."""
    depth = np.zeros((camera.height, camera.width))
    counts = dict(non_finite=0, too_near=0, too_far=0, outside_image=0, landed=0)
    for x, y, z in np.asarray(points, dtype=np.float64)[:, :3]:
        if not all(math.isfinite(c) for c in (x, y, z)):
            counts["non_finite"] += 1
            continue
        xc, yc, zc = (t_cam_lidar @ [x, y, z, 1.0])[:3]
        if camera.rectified:
            xc, yc, zc = camera.r @ [xc, yc, zc]
            p = camera.p
            w = p[2, 2] * zc
            if not (w >= min_depth):
                counts["too_near"] += 1
                continue
            if w > max_depth:
                counts["too_far"] += 1
                continue
            u = (p[0, 0] * xc + p[0, 1] * yc + p[0, 2] * zc + p[0, 3]) / w
            v = (p[1, 1] * yc + p[1, 2] * zc + p[1, 3]) / w
            d = w
        else:
            if not (zc >= min_depth):
                counts["too_near"] += 1
                continue
            if zc > max_depth:
                counts["too_far"] += 1
                continue
            a, b = xc / zc, yc / zc
            if math.hypot(a, b) > camera.max_ray_slope:  # beyond the distortion's fold-back
                counts["outside_image"] += 1
                continue
            k1, k2, p1, p2, k3, k4, k5, k6 = np.r_[camera.d, np.zeros(8 - camera.d.size)]
            r2 = a * a + b * b
            radial = (1 + k1 * r2 + k2 * r2**2 + k3 * r2**3) / (1 + k4 * r2 + k5 * r2**2 + k6 * r2**3)
            ad = a * radial + 2 * p1 * a * b + p2 * (r2 + 2 * a * a)
            bd = b * radial + p1 * (r2 + 2 * b * b) + 2 * p2 * a * b
            u = camera.k[0, 0] * ad + camera.k[0, 1] * bd + camera.k[0, 2]
            v = camera.k[1, 1] * bd + camera.k[1, 2]
            d = zc
        col, row = math.floor(u + 0.5), math.floor(v + 0.5)
        if not (0 <= col < camera.width and 0 <= row < camera.height):
            counts["outside_image"] += 1
            continue
        counts["landed"] += 1
        if depth[row, col] == 0 or d < depth[row, col]:
            depth[row, col] = d
    return depth, counts


def stats_counts(stats):
    return {k: getattr(stats, k) for k in ("non_finite", "too_near", "too_far", "outside_image", "landed")}


# ---------------------------------------------------------------- hand-computed cases
def test_point_on_the_optical_axis_lands_in_the_principal_point_pixel():
    depth = project_to_depth(np.array([[0.0, 0.0, 5.0]], np.float32), IDENTITY, CAMERA)
    assert depth.dtype == np.float32 and depth.shape == (10, 10 * 2)
    assert depth[5, 10] == pytest.approx(5.0)  # u = 9.5 -> floor(10.0) = 10, v = 4.5 -> 5
    assert np.count_nonzero(depth) == 1


def test_pixel_centres_at_integer_coordinates():
    # X = 2 m, Z = 4 m -> u = 10 * 0.5 + 9.5 = 14.5 -> column 15; u = 14.49 -> column 14.
    points = np.array([[2.0, 0.0, 4.0], [-3.8 / 10 * 4 * 1.0, -0.2, 4.0]], np.float32)
    # second point: u = 10 * (-0.38) + 9.5 = 5.7 -> 6 ; v = 10 * (-0.05) + 4.5 = 4.0 -> 4
    depth = project_to_depth(points, IDENTITY, CAMERA)
    assert depth[5, 15] == pytest.approx(4.0)
    assert depth[4, 6] == pytest.approx(4.0)
    just_below = np.array([[0.4996, 0.0, 1.0]], np.float32)  # u = 14.496 -> column 14
    assert project_to_depth(just_below, IDENTITY, CAMERA)[5, 14] == pytest.approx(1.0)


def test_lidar_frame_convention_and_nearest_wins():
    # Two LiDAR points straight ahead (x forward): the nearer one owns the centre pixel.
    points = np.array([[8.0, 0.0, 0.0, 0.3], [3.0, 0.0, 0.0, 0.9], [5.0, 0.0, 0.0, 0.5]], np.float32)
    result = project_points(points, T_OPTICAL_LIDAR, CAMERA, intensity=points[:, 3])
    assert result.depth[5, 10] == pytest.approx(3.0)
    assert result.intensity[5, 10] == pytest.approx(0.9)
    assert result.stats.landed == 3 and result.stats.pixels == 1 and result.stats.occluded == 2
    # A point to the LiDAR's left (+y) appears left of the centre (smaller column).
    left = project_to_depth(np.array([[4.0, 1.0, 0.0]], np.float32), T_OPTICAL_LIDAR, CAMERA)
    assert np.argwhere(left > 0).tolist() == [[5, 7]]  # u = 9.5 - 10 * 1 / 4 = 7.0 -> column 7


def test_drop_reasons_are_counted_in_order():
    points = np.array(
        [
            [0.0, 0.0, 2.0],  # lands
            [np.nan, 0.0, 2.0],  # non-finite
            [0.0, np.inf, 2.0],  # non-finite
            [0.0, 0.0, -2.0],  # behind
            [0.0, 0.0, 0.05],  # nearer than min_depth 0.1
            [0.0, 0.0, 50.0],  # beyond max_depth 40
            [0.0, 100.0, 50.0],  # beyond max_depth AND outside: counted as too far
            [10.0, 0.0, 2.0],  # outside (u = 59.5)
        ],
        np.float32,
    )
    stats = project_points(points, IDENTITY, CAMERA, max_depth=40.0).stats
    assert stats_counts(stats) == dict(non_finite=2, too_near=2, too_far=2, outside_image=1, landed=1)
    assert stats.input_points == 8 and stats.dropped == 7 and stats.pixels == 1
    assert stats.as_dict()["dropped"] == 7


def test_image_borders():
    # Column floor(u + 0.5) must be in [0, width): u in [-0.5, 19.5).
    z = 1.0
    us = np.array([-0.5, -0.51, 19.49, 19.5])
    points = np.stack([(us - 9.5) / 10 * z, np.zeros(4), np.full(4, z)], axis=1)
    result = project_points(points.astype(np.float64), IDENTITY, CAMERA)
    assert result.stats.landed == 2 and result.stats.outside_image == 2
    assert result.depth[5, 0] == 1.0 and result.depth[5, 19] == 1.0


def test_points_within_float32_rounding_of_pixel_and_image_borders_land_as_in_float64():
    # u + 0.5 and v + 0.5 a hair (1e-6 .. 1e-3 px) either side of pixel borders, at the image's
    # edges and inside: float32 alone would misplace some; the float64 reference decides.
    offsets = np.array([-1e-3, -1e-4, -1e-5, -1e-6, 0.0, 1e-6, 1e-5, 1e-4, 1e-3])
    cols = np.array([0, 1, 7, 19, 20])  # pixel borders at u + 0.5 = col
    rows = np.array([0, 3, 9, 10])
    u = (cols[:, None] + offsets).ravel() - 0.5
    v = (rows[:, None] + offsets).ravel() - 0.5
    uu, vv = np.meshgrid(u, v)
    z = np.linspace(1.0, 9.0, uu.size).reshape(uu.shape)
    points = np.stack([(uu - 9.5) / 10 * z, (vv - 4.5) / 10 * z, z], axis=-1).reshape(-1, 3)
    points = points.astype(np.float32)  # what both implementations see
    result = project_points(points, IDENTITY, CAMERA)
    expected, counts = reference_projection(points, IDENTITY, CAMERA)
    assert stats_counts(result.stats) == counts
    assert counts["outside_image"] > 0 and counts["landed"] > 0
    np.testing.assert_allclose(result.depth, expected, rtol=1e-6)


def test_empty_cloud_gives_all_zero_image_and_stats():
    result = project_points(np.zeros((0, 4), np.float32), IDENTITY, CAMERA, intensity=np.zeros(0))
    assert result.depth.shape == (10, 20) and not result.depth.any()
    assert result.intensity is not None and not result.intensity.any()
    assert result.stats.input_points == 0 and result.stats.landed == 0 and result.stats.dropped == 0


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((5, 2), np.float32), "x, y, z"),
        (np.zeros(12, np.float32), "x, y, z"),
        (np.zeros((2, 3, 3), np.float32), "x, y, z"),
        (np.array([["a", "b", "c"]]), "numeric"),
        (np.zeros(4, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4")]), "structured"),
    ],
)
def test_malformed_clouds_are_rejected(bad, message):
    with pytest.raises(ValueError, match=message):
        project_points(bad, IDENTITY, CAMERA)


def test_bad_arguments_are_rejected():
    points = np.ones((3, 3), np.float32)
    with pytest.raises(ValueError, match="min_depth"):
        project_points(points, IDENTITY, CAMERA, min_depth=0.0)
    with pytest.raises(ValueError, match="4x4"):
        project_points(points, np.eye(3), CAMERA)
    with pytest.raises(ValueError, match="intensities"):
        project_points(points, IDENTITY, CAMERA, intensity=np.ones(2))


def test_extra_columns_ignored_and_input_not_modified():
    rng = np.random.default_rng(0)
    points = rng.uniform(-5, 5, (200, 5)).astype(np.float32)
    copy = points.copy()
    a = project_to_depth(points, IDENTITY, CAMERA)
    b = project_to_depth(np.ascontiguousarray(points[:, :3]), IDENTITY, CAMERA)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(points, copy)


# ---------------------------------------------------------------- against the loop implementation
def random_cloud(rng, count):
    points = rng.uniform([-30, -30, -5], [60, 30, 5], (count, 3)).astype(np.float32)
    points[rng.random(count) < 0.02, rng.integers(0, 3)] = np.nan
    return points


@pytest.mark.parametrize("seed", range(3))
def test_matches_loop_implementation_rectified(seed):
    rng = np.random.default_rng(seed)
    # A KITTI-like camera with a stereo offset in P and a non-trivial R, seen from a tilted LiDAR.
    k = np.array([[120.0, 0.0, 61.3], [0.0, 118.0, 17.8], [0.0, 0.0, 1.0]])
    p = np.hstack([k, [[-12.0], [0.3], [0.0]]])
    r = transform_from_rpy([0, 0, 0], 0.01, -0.02, 0.015)[:3, :3]
    camera = CameraModel(124, 37, k=k, p=p, r=r, d=np.zeros(5))
    t = transform_from_rpy([0.1, -0.2, 0.3], 0.02, 0.05, -0.03) @ T_OPTICAL_LIDAR
    points = random_cloud(rng, 3000)
    result = project_points(points, t, camera, min_depth=1.0, max_depth=40.0)
    expected, counts = reference_projection(points, t, camera, 1.0, 40.0)
    assert stats_counts(result.stats) == counts
    assert counts["landed"] > 300
    np.testing.assert_allclose(result.depth, expected, rtol=1e-5)


@pytest.mark.parametrize(
    "model, d",
    [
        ("plumb_bob", [-0.12, 0.03, 0.001, -0.002, 0.0]),
        ("plumb_bob", [-0.3, 0.1, -0.001, 0.002, -0.01]),
        ("rational_polynomial", [0.4, -0.05, 0.001, -0.002, 0.0, 0.7, 0.02, 0.0]),
    ],
)
def test_matches_loop_implementation_raw(model, d):
    rng = np.random.default_rng(len(d))
    k = np.array([[60.0, 0.0, 31.0], [0.0, 61.0, 23.5], [0.0, 0.0, 1.0]])
    camera = CameraModel(64, 48, k=k, p=np.zeros((3, 4)), d=d, distortion_model=model, rectified=False)
    points = random_cloud(rng, 3000)
    result = project_points(points, T_OPTICAL_LIDAR, camera, min_depth=2.0)
    expected, counts = reference_projection(points, T_OPTICAL_LIDAR, camera, 2.0)
    assert stats_counts(result.stats) == counts
    assert counts["landed"] > 200
    np.testing.assert_allclose(result.depth, expected, rtol=1e-5)


# ---------------------------------------------------------------- properties
coordinate = st.floats(-20, 20, allow_nan=False, width=32)
clouds = hnp.arrays(np.float32, st.tuples(st.integers(0, 60), st.just(3)), elements=coordinate)
limit = st.floats(0.1, 25.0).map(lambda value: float(np.float32(value)))  # exact in float32 too


@st.composite
def pixel_clouds(draw):
    """Clouds built from pixel coordinates at least 0.2 px away from pixel borders (so float32
    rounding cannot move a point across one) and depths with many repeats (z-buffer ties)."""
    n = draw(st.integers(0, 60))
    cols = np.array(draw(st.lists(st.integers(-3, 23), min_size=n, max_size=n)), float)
    rows = np.array(draw(st.lists(st.integers(-3, 13), min_size=n, max_size=n)), float)
    offsets = np.array(draw(st.lists(st.floats(-0.3, 0.3), min_size=2 * n, max_size=2 * n))).reshape(2, n)
    depths = np.array(draw(st.lists(st.sampled_from([-1.0, 0.05, 0.5, 2.0, 2.5, 7.0, 30.0]),
                                    min_size=n, max_size=n)))
    x = (cols + offsets[0] - CAMERA.cx) * depths / CAMERA.fx
    y = (rows + offsets[1] - CAMERA.cy) * depths / CAMERA.fy
    return np.stack([x, y, depths], axis=1).astype(np.float32).reshape(n, 3)


@settings(max_examples=60, deadline=None)
@given(clouds, limit, limit)
def test_property_counts_add_up_and_depths_respect_limits(points, near, far):
    min_depth, max_depth = min(near, far), max(near, far)
    result = project_points(points, IDENTITY, CAMERA, min_depth=min_depth, max_depth=max_depth)
    s = result.stats
    assert s.dropped + s.landed == s.input_points == len(points)
    assert s.pixels == np.count_nonzero(result.depth) <= s.landed
    filled = result.depth[result.depth > 0]
    assert np.all(filled >= min_depth) and np.all(filled <= max_depth)
    expected, counts = reference_projection(points, IDENTITY, CAMERA, min_depth, max_depth)
    for reason in ("non_finite", "too_near", "too_far"):
        assert getattr(s, reason) == counts[reason]


@settings(max_examples=80, deadline=None)
@given(pixel_clouds(), st.randoms(use_true_random=False))
def test_property_zbuffer_keeps_the_nearest_and_ignores_order(points, random):
    result = project_points(points, IDENTITY, CAMERA)
    order = list(range(len(points)))
    random.shuffle(order)
    shuffled = project_points(points[order], IDENTITY, CAMERA)
    np.testing.assert_array_equal(result.depth, shuffled.depth)
    # Every filled pixel holds the minimum depth of the points that land in it.
    expected, counts = reference_projection(points, IDENTITY, CAMERA)
    assert stats_counts(result.stats) == counts
    np.testing.assert_array_equal(result.depth, expected.astype(np.float32))


@settings(max_examples=40, deadline=None)
@given(pixel_clouds(), hnp.arrays(np.float32, st.integers(0, 10),
                                  elements=st.sampled_from([np.nan, np.inf, -np.inf])))
def test_property_bad_points_are_counted_never_drawn(points, bad_values):
    bad = np.zeros((len(bad_values), 3), np.float32)
    bad[:, 0] = bad_values
    bad[:, 2] = 5.0
    mixed = np.concatenate([bad[: len(bad) // 2], points, bad[len(bad) // 2:]])
    result = project_points(mixed, IDENTITY, CAMERA)
    clean = project_points(points, IDENTITY, CAMERA)
    assert result.stats.non_finite == len(bad_values)
    assert stats_counts(result.stats) == {**stats_counts(clean.stats), "non_finite": len(bad_values)}
    np.testing.assert_array_equal(result.depth, clean.depth)


@settings(max_examples=40, deadline=None)
@given(pixel_clouds())
def test_property_intensity_follows_the_depth_winner(points):
    intensity = np.arange(len(points), dtype=np.float32) + 1  # 1-based point number
    result = project_points(points, IDENTITY, CAMERA, intensity=intensity)
    filled = result.depth > 0
    winners = result.intensity[filled].astype(int) - 1
    np.testing.assert_array_equal(points[winners, 2], result.depth[filled])
    assert np.all(result.intensity[~filled] == 0)


# ---------------------------------------------------------------- motion compensation
def test_constant_velocity_recovers_a_static_scene():
    rng = np.random.default_rng(3)
    world = rng.uniform([5, -10, -2], [40, 10, 2], (500, 3))  # LiDAR frame at the image stamp
    times = rng.uniform(-0.1, 0.0, 500)
    linear, angular = np.array([10.0, 0.5, 0.0]), np.array([0.0, 0.1, 0.4])
    # The sensor at time t is at pose (Rot(angular t), linear t): a static point appears at
    # Rot(angular t)^T (X - linear t) in the sensor frame of that moment.
    measured = np.empty_like(world)
    for i, (x, t) in enumerate(zip(world, times, strict=True)):
        rotation = _axis_angle(angular * t)
        measured[i] = rotation.T @ (x - linear * t)
    restored = ConstantVelocity(times, linear, angular).apply(measured.astype(np.float32))
    np.testing.assert_allclose(restored, world, atol=2e-4)
    with_motion = project_to_depth(measured.astype(np.float32), T_OPTICAL_LIDAR, CAMERA,
                                   motion=ConstantVelocity(times, linear, angular))
    static = project_to_depth(world.astype(np.float32), T_OPTICAL_LIDAR, CAMERA)
    np.testing.assert_allclose(with_motion, static, atol=1e-4)


def _axis_angle(rotation_vector):
    import cv2

    return cv2.Rodrigues(np.asarray(rotation_vector, dtype=np.float64))[0]


def test_motion_compensation_validates_its_inputs():
    with pytest.raises(ValueError, match="times"):
        project_points(np.ones((3, 3)), IDENTITY, CAMERA, motion=ConstantVelocity(np.zeros(2)))
    with pytest.raises(ValueError, match="linear"):
        project_points(np.ones((3, 3)), IDENTITY, CAMERA, motion=ConstantVelocity(np.zeros(3), (1, 2)))


def test_overlay_colours_near_warm_far_cool():
    from nlspn_ros.geometry.overlay import draw_depth_overlay

    image = np.full((10, 20, 3), 128, np.uint8)
    depth = np.zeros((10, 20), np.float32)
    depth[5, 3], depth[5, 15] = 2.0, 60.0
    overlay = draw_depth_overlay(image, depth, radius=0)
    blue, _, red = overlay[5, 3].astype(int)
    assert red > 100 and red > 3 * blue  # near: red (BGR order)
    blue, _, red = overlay[5, 15].astype(int)
    assert blue > red  # far: blue
    assert (overlay[0] == 128).all() and (image == 128).all()  # elsewhere untouched, input not modified
    with pytest.raises(ValueError, match="sizes differ"):
        draw_depth_overlay(image, depth[:5])


def test_raw_distortion_does_not_fold_far_off_axis_points_into_the_image():
    # Strong barrel distortion: r_d = r (1 - 0.5 r^2) peaks at r = sqrt(2/3); a ray with slope 2 would
    # map to r_d = -2, i.e. mirrored to the other side of the image.
    k = np.array([[100.0, 0.0, 99.5], [0.0, 100.0, 99.5], [0.0, 0.0, 1.0]])
    camera = CameraModel(200, 200, k=k, p=np.zeros((3, 4)), d=[-0.5, 0, 0, 0, 0], rectified=False)
    assert camera.max_ray_slope == pytest.approx(math.sqrt(2 / 3), abs=1e-3)
    points = np.array([[0.5, 0.0, 1.0], [0.75, 0.0, 1.0], [2.0, 0.0, 1.0]], np.float32)
    result = project_points(points, IDENTITY, camera)
    assert result.stats.landed == 2 and result.stats.outside_image == 1
    cols = sorted(np.argwhere(result.depth)[:, 1].tolist())
    assert cols == [math.floor(99.5 + 100 * 0.5 * (1 - 0.5 * 0.25) + 0.5),
                    math.floor(99.5 + 100 * 0.75 * (1 - 0.5 * 0.5625) + 0.5)]
    assert CAMERA.max_ray_slope == math.inf
