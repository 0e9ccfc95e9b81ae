"""KITTI calibration (object format and raw-data pair) and projection of the real sample frames."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from nlspn_ros.geometry import CalibrationError, load_kitti_calib, project_points
from nlspn_ros.geometry.kitti import read_calib_file

# SOURCES.md: about 20.3k (000000) and 18.6k (000001) points fall inside the image with positive depth.
EXPECTED_LANDED = {"000000": 20_300, "000001": 18_600}


def load_frame(kitti_dir, frame):
    image = cv2.imread(str(kitti_dir / "image_2" / f"{frame}.png"), cv2.IMREAD_COLOR)
    points = np.fromfile(kitti_dir / "velodyne" / f"{frame}.bin", dtype="<f4").reshape(-1, 4)
    return image, points


def kitti_product(calib_file, points):
    """P2 @ R0_rect @ Tr_velo_to_cam @ X in float64, straight from the file (3, N)."""
    values = read_calib_file(calib_file)
    r0, tr = np.eye(4), np.eye(4)
    r0[:3, :3] = values["R0_rect"].reshape(3, 3)
    tr[:3] = values["Tr_velo_to_cam"].reshape(3, 4)
    homogeneous = np.c_[points[:, :3].astype(np.float64), np.ones(len(points))]
    return values["P2"].reshape(3, 4) @ r0 @ tr @ homogeneous.T


@pytest.mark.parametrize("frame", sorted(EXPECTED_LANDED))
def test_kitti_frames_land_as_sources_md_states(kitti_dir, frame):
    image, points = load_frame(kitti_dir, frame)
    height, width = image.shape[:2]
    camera, t_cam_lidar = load_kitti_calib(kitti_dir / "calib" / f"{frame}.txt", image_size=(width, height))
    result = project_points(points, t_cam_lidar, camera, intensity=points[:, 3])
    stats = result.stats
    assert round(stats.landed, -2) == EXPECTED_LANDED[frame]
    assert stats.landed == {"000000": 20259, "000001": 18608}[frame]  # exact, float64 check below agrees
    assert stats.dropped + stats.landed == len(points) and stats.non_finite == 0

    # Independent float64 check of which points land and where, and of the depth values.
    y = kitti_product(kitti_dir / "calib" / f"{frame}.txt", points)
    depth, cols, rows = y[2], np.floor(y[0] / y[2] + 0.5), np.floor(y[1] / y[2] + 0.5)
    lands = (depth >= 0.1) & (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    assert np.count_nonzero(lands) == stats.landed
    nearest = np.full((height, width), np.inf)
    np.minimum.at(nearest, (rows[lands].astype(int), cols[lands].astype(int)), depth[lands])
    nearest[np.isinf(nearest)] = 0
    np.testing.assert_allclose(result.depth, nearest, rtol=1e-5, atol=0)
    assert stats.pixels == np.count_nonzero(nearest)
    filled = result.depth[result.depth > 0]
    assert 4.0 < filled.min() and filled.max() < 77.0  # SOURCES.md: 4 to 77 m
    assert 0 <= result.intensity.min() and result.intensity.max() <= 1


def _write_raw_pair(folder, calib_file, image_size):
    """calib_cam_to_cam.txt / calib_velo_to_cam.txt in KITTI raw layout from object-format numbers."""
    values = read_calib_file(calib_file)
    fmt = lambda array: " ".join(f"{v:.12e}" for v in np.ravel(array))  # noqa: E731
    lines = ["calib_time: 09-Jan-2012 13:57:47", "corner_dist: 9.950000e-02"]
    for n in range(4):
        lines += [f"S_0{n}: 1.392000e+03 5.120000e+02", f"K_0{n}: {fmt(np.eye(3))}",
                  f"D_0{n}: {fmt(np.zeros(5))}",
                  f"R_0{n}: {fmt(np.eye(3))}", f"T_0{n}: {fmt(np.zeros(3))}",
                  f"S_rect_0{n}: {fmt(image_size)}", f"R_rect_0{n}: {fmt(values['R0_rect'])}",
                  f"P_rect_0{n}: {fmt(values[f'P{n}'])}"]
    (folder / "calib_cam_to_cam.txt").write_text("\n".join(lines) + "\n")
    tr = values["Tr_velo_to_cam"].reshape(3, 4)
    (folder / "calib_velo_to_cam.txt").write_text(
        f"calib_time: 15-Mar-2012 11:37:16\nR: {fmt(tr[:, :3])}\nT: {fmt(tr[:, 3])}\n"
        f"delta_f: 0.0 0.0\ndelta_c: 0.0 0.0\n")


def test_raw_pair_matches_object_format(kitti_dir, tmp_path):
    calib_file = kitti_dir / "calib" / "000000.txt"
    _write_raw_pair(tmp_path, calib_file, (1224, 370))
    reference = load_kitti_calib(calib_file, image_size=(1224, 370), camera=2)
    for path in (tmp_path, tmp_path / "calib_cam_to_cam.txt", tmp_path / "calib_velo_to_cam.txt"):
        camera, t_cam_lidar = load_kitti_calib(path, camera=2)  # size from S_rect_02
        assert (camera.width, camera.height) == (1224, 370)
        np.testing.assert_allclose(camera.p, reference[0].p, rtol=1e-12)
        np.testing.assert_allclose(t_cam_lidar, reference[1], rtol=1e-12, atol=1e-15)
    # camera 3 (right colour camera) and camera 0: different offsets, same intrinsics
    _, t3 = load_kitti_calib(tmp_path, camera=3)
    _, t0 = load_kitti_calib(tmp_path, camera=0)
    # P_N = K [I | t_N]: t_x = (P[0, 3] - cx * P[2, 3]) / fx, with P3[2, 3] = 3.201153e-03
    baseline = (-3.341081e02 - 6.040814e02 * 3.201153e-03) / 7.070493e02
    assert t3[0, 3] - t0[0, 3] == pytest.approx(baseline, rel=1e-9)  # ~ -0.475 m


def test_t_cam_lidar_puts_the_camera_offset_into_the_extrinsics(kitti_dir):
    calib_file = kitti_dir / "calib" / "000000.txt"
    camera, t_cam_lidar = load_kitti_calib(calib_file, image_size=(1224, 370))
    np.testing.assert_array_equal(camera.p[:, 3], 0)
    points = np.array([[10.0, 1.0, -0.5], [25.0, -3.0, 0.7]])
    y = kitti_product(calib_file, points)
    in_camera = (t_cam_lidar @ np.c_[points, np.ones(2)].T)[:3]
    np.testing.assert_allclose(in_camera[2], y[2], rtol=1e-12)  # depth = third coordinate
    np.testing.assert_allclose(camera.p[:, :3] @ in_camera, y, rtol=1e-12)


def test_bad_kitti_inputs(kitti_dir, tmp_path):
    calib_file = kitti_dir / "calib" / "000000.txt"
    with pytest.raises(CalibrationError, match="image_size"):
        load_kitti_calib(calib_file)
    with pytest.raises(CalibrationError, match="not found"):
        load_kitti_calib(tmp_path / "missing.txt", image_size=(10, 10))
    with pytest.raises(CalibrationError, match="0..3"):
        load_kitti_calib(calib_file, image_size=(10, 10), camera=5)
    (tmp_path / "calib_cam_to_cam.txt").write_text("P_rect_02: 1 2 3\n")
    with pytest.raises(CalibrationError, match="calib_velo_to_cam.txt"):
        load_kitti_calib(tmp_path)
    broken = tmp_path / "broken.txt"
    broken.write_text(calib_file.read_text().replace("R0_rect", "R0_wrong"))
    with pytest.raises(CalibrationError, match="R0_rect"):
        load_kitti_calib(broken, image_size=(1224, 370))


def test_project_cli_writes_an_overlay(kitti_dir, tmp_path, capsys):
    from nlspn_ros.cli import main

    out = tmp_path / "overlay.png"
    assert main(["project", "--kitti-frame", str(kitti_dir), "000001", "--out", str(out)]) == 0
    assert "18608 points landed" in capsys.readouterr().out
    overlay = cv2.imread(str(out), cv2.IMREAD_COLOR)
    image, _ = load_frame(kitti_dir, "000001")
    assert overlay.shape == image.shape
    changed = np.any(overlay != image, axis=2)
    assert 0.03 < changed.mean() < 0.5  # dots drawn ...
    assert not changed[:100].any() or changed[:100].mean() < 0.01  # ... not in the sky (top rows)
