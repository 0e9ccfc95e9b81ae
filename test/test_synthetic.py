"""Synthetic scenes: ray casting, determinism, KITTI-like sparsity, LiDAR/ground-truth agreement."""

from __future__ import annotations

import numpy as np
import pytest

from nlspn_ros.data.lidar import LidarModel, hdl64e_elevations_deg
from nlspn_ros.data.raycast import Box, Cylinder, Material, Plane, Sphere, cast
from nlspn_ros.data.synthetic import MAX_RANGE, kitti_like_camera, render_frame
from nlspn_ros.geometry import project_to_depth

GREY = Material((0.5, 0.5, 0.5))


def _unit(v):
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_primitives_hit_where_geometry_says():
    dirs = _unit([[0, 0, 1], [0, 1, 1], [1, 0, 0], [0, -1, 0]])
    origin = np.zeros(3)
    objects = [
        Sphere((0, 0, 10), 1.0, GREY),  # straight ahead: hit at 9
        Plane((0, -1, 0), -2.0, GREY),  # ground y = 2: the 45-degree-down ray hits at 2*sqrt(2)
        Box((5, 0, 0), (1, 1, 1), 0.0, GREY),  # to the right: face at x = 4
    ]
    hits = cast(objects, origin, dirs, max_range=100)
    np.testing.assert_allclose(hits.t[:3], [9.0, 2 * np.sqrt(2), 4.0], rtol=1e-9)
    assert hits.index.tolist() == [0, 1, 2, -1]  # the upward ray sees nothing (sky)
    np.testing.assert_allclose(hits.normals, [[0, 0, -1], [0, -1, 0], [-1, 0, 0]], atol=1e-9)


def test_rotated_box_cylinder_and_range_limit():
    box = Box((0, 0, 10), (1, 1, 1), np.pi / 4, GREY)  # turned 45 deg: nearest edge at z = 10 - sqrt(2)
    pole = Cylinder((0, 5), 0.5, -1.0, 1.0, GREY)
    dirs = _unit([[0, 0, 1], [0, 0.5, 1]])
    hits = cast([box], np.zeros(3), dirs[:1], 100)
    np.testing.assert_allclose(hits.t[0], 10 - np.sqrt(2), rtol=1e-9)
    hits = cast([pole], np.zeros(3), dirs, 100)
    assert hits.t[0] == pytest.approx(4.5)
    assert hits.index[1] == -1  # passes below the cylinder's bottom (y = 1 at z ~ 2 < 4.5 -> y 2.25)
    assert cast([Sphere((0, 0, 50), 1, GREY)], np.zeros(3), dirs[:1], max_range=40).index[0] == -1


def test_hdl64e_pattern():
    elevations = hdl64e_elevations_deg()
    assert len(elevations) == 64
    assert elevations.max() == pytest.approx(2.0) and elevations.min() == pytest.approx(-24.33)
    dirs = LidarModel().directions()
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1.0)


def test_render_is_deterministic_and_seed_dependent():
    a, b = render_frame(3, 152, 44), render_frame(3, 152, 44)
    for name in ("rgb", "depth_gt", "points", "sparse", "T_cam_lidar"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = render_frame(4, 152, 44)
    assert not np.array_equal(a.depth_gt, c.depth_gt)
    assert a.rgb.dtype == np.uint8 and a.rgb.shape == (44, 152, 3)
    assert a.depth_gt.dtype == np.float32 and a.sparse.dtype == np.float32
    assert a.points.dtype == np.float32 and a.points.shape[1] == 4


@pytest.fixture(scope="module", params=["street", "indoor"])
def full_frame(request):
    return render_frame(12, kind=request.param)


@pytest.mark.slow
def test_full_size_frames_are_kitti_like(full_frame):
    frame = full_frame
    assert frame.rgb.shape == (352, 1216, 3)
    density = (frame.sparse > 0).mean()
    assert 0.03 <= density <= 0.065, density
    # the sparse image comes from the real projection code path
    np.testing.assert_array_equal(
        frame.sparse, project_to_depth(frame.points, frame.T_cam_lidar, frame.camera)
    )
    # LiDAR below the camera's horizon: no returns in the top rows
    assert (frame.sparse[:60] == 0).all()
    # intensities in 0..1, ranges within the sensor's
    assert frame.points[:, 3].min() >= 0 and frame.points[:, 3].max() <= 1
    assert np.linalg.norm(frame.points[:, :3], axis=1).max() < MAX_RANGE + 0.2


@pytest.mark.slow
def test_ground_truth_agrees_with_lidar_depth(full_frame):
    frame = full_frame
    both = (frame.sparse > 0) & (frame.depth_gt > 0)
    diff = np.abs(frame.sparse[both] - frame.depth_gt[both])
    # range noise is 2 cm; the rest are LiDAR points seen past foreground edges (the 0.27 m baseline)
    assert np.median(diff) < 0.03
    assert np.mean(diff < 0.1) > 0.9


@pytest.mark.slow
def test_sky_has_no_return():
    frame = render_frame(1, kind="street")
    sky = frame.depth_gt == 0
    assert sky.mean() > 0.02  # this scene has open sky
    assert (frame.sparse[sky] > 0).mean() < 0.002  # only edge effects from the LiDAR's other viewpoint
    assert frame.rgb[sky].mean(axis=0)[2] > frame.rgb[sky].mean(axis=0)[0]  # blue-ish sky


def test_camera_scales_with_size_and_bad_size_is_rejected():
    cam = kitti_like_camera(608, 176)
    assert cam.fx == pytest.approx(721.5 / 2) and cam.cy == pytest.approx(149.9 / 2)
    with pytest.raises(ValueError, match="too small"):
        render_frame(0, 4, 4)
    with pytest.raises(ValueError, match="scene kind"):
        render_frame(0, 64, 32, kind="forest")
