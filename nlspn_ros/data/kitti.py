"""Readers for KITTI's folder layouts (ROS-free): frames with RGB, sweep, calibration, stamps, pose.

Three layouts, one frame type (:class:`KittiFrame`):

* **raw** (``read_raw_drive``): a day folder with ``calib_cam_to_cam.txt``, ``calib_velo_to_cam.txt``
  (and ``calib_imu_to_velo.txt``), drive folders ``<day>_drive_NNNN_sync`` with
  ``image_02/data/*.png``, ``velodyne_points/data/*.bin``, ``oxts/data/*.txt`` and the
  ``timestamps*.txt`` files (line N = frame N of the whole drive). Missing timestamp files give
  ``None`` stamps, missing OXTS packets ``None`` poses.
* **odometry** (``read_odometry_sequence``): ``sequences/NN/{image_2,velodyne,calib.txt,times.txt}``
  and ``poses/NN.txt`` (camera-0 poses, 3x4 per line; sequences 11-21 have none).
* **object** (``read_object_layout``): ``image_2/*.png``, ``velodyne/*.bin``, ``calib/*.txt``.

Stamps are integer nanoseconds: raw stamps (local time of the recording, no zone) are read as UTC;
odometry stamps are seconds from the sequence start. Poses are 4x4 float64 ``world <- frame`` of
the vehicle (raw: the OXTS/IMU frame, east-north-up Mercator as KITTI's devkit computes it, the
first OXTS packet of the drive read being the origin; odometry: ``world <- LiDAR``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from nlspn_ros.geometry import CameraModel, invert_transform, load_kitti_calib, project_to_depth
from nlspn_ros.geometry.kitti import read_calib_file

KITTI_DC_CROP = (352, 1216)  # (height, width): KITTI depth completion's bottom-centre crop
EARTH_RADIUS_M = 6378137.0  # KITTI devkit's Mercator projection of the OXTS positions


@dataclass
class KittiFrame:
    """One KITTI frame. ``points``: Nx4 float32 (x, y, z metres in the LiDAR frame, reflectance),
    in the file's order (ring by ring, top laser first); ``rgb``: HxWx3 uint8."""

    name: str
    rgb: np.ndarray
    points: np.ndarray
    camera: CameraModel
    t_cam_lidar: np.ndarray
    camera_stamp_ns: int | None = None
    lidar_stamp_ns: int | None = None
    pose: np.ndarray | None = None
    pose_stamp_ns: int | None = None
    t_imu_lidar: np.ndarray | None = None  # 4x4 LiDAR -> IMU (raw layout with calib_imu_to_velo.txt)


def read_image(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return np.ascontiguousarray(bgr[..., ::-1])


def read_sweep(path: Path) -> np.ndarray:
    """A Velodyne ``.bin`` (little-endian float32 x, y, z, reflectance) as Nx4 float32."""
    scan = np.fromfile(path, dtype="<f4")
    if scan.size % 4:
        raise ValueError(f"{path}: {scan.size} floats is not N x (x, y, z, reflectance)")
    return scan.reshape(-1, 4).astype(np.float32)


def parse_stamp(text: str) -> int:
    """``YYYY-MM-DD HH:MM:SS.nnnnnnnnn`` (KITTI raw, read as UTC) -> integer nanoseconds."""
    whole, _, fraction = text.strip().partition(".")
    seconds = dt.datetime.strptime(whole, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC).timestamp()
    return int(seconds) * 1_000_000_000 + int((fraction + "000000000")[:9])


def read_stamps(path: Path) -> list[int] | None:
    """All stamps of a raw ``timestamps.txt`` (line N = frame N); None when the file is missing."""
    if not path.is_file():
        return None
    return [parse_stamp(line) for line in path.read_text().splitlines() if line.strip()]


def _rotation_xyz(roll: float, pitch: float, yaw: float) -> np.ndarray:
    cr, sr, cp, sp, cy, sy = (
        np.cos(roll),
        np.sin(roll),
        np.cos(pitch),
        np.sin(pitch),
        np.cos(yaw),
        np.sin(yaw),
    )
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def oxts_poses(packets: list[np.ndarray]) -> list[np.ndarray]:
    """OXTS packets (30 values each) -> 4x4 ``world <- IMU`` poses, as KITTI's devkit
    (``convertOxtsToPose``): Mercator scale from the first latitude, translation relative to the
    first packet, rotation Rz(yaw) Ry(pitch) Rx(roll)."""
    if not packets:
        return []
    scale = np.cos(np.radians(packets[0][0]))
    poses = []
    for packet in packets:
        lat, lon, alt, roll, pitch, yaw = packet[:6]
        pose = np.eye(4)
        pose[:3, :3] = _rotation_xyz(roll, pitch, yaw)
        pose[:3, 3] = (
            scale * np.radians(lon) * EARTH_RADIUS_M,
            scale * EARTH_RADIUS_M * np.log(np.tan(np.radians(90.0 + lat) / 2.0)),
            alt,
        )
        poses.append(pose)
    origin = poses[0][:3, 3].copy()
    for pose in poses:
        pose[:3, 3] -= origin
    return poses


def _frame_numbers(folder: Path, suffix: str) -> list[int]:
    return sorted(int(p.stem) for p in folder.glob(f"*{suffix}") if p.stem.isdigit())


def read_raw_drive(
    drive: str | Path, frames: Iterable[int] | None = None, camera: int = 2
) -> Iterator[KittiFrame]:
    """Frames of a KITTI raw drive folder (its day folder, the parent, holds the calibration).

    ``frames``: frame numbers to read (default: every frame with an image and a sweep).
    """
    drive = Path(drive)
    image_dir = drive / f"image_0{camera}"
    velo_dir = drive / "velodyne_points"
    for needed in (image_dir / "data", velo_dir / "data"):
        if not needed.is_dir():
            raise FileNotFoundError(f"not a KITTI raw drive: {needed} does not exist")
    day = drive.parent
    camera_model, t_cam_lidar = load_kitti_calib(day, camera=camera)
    t_imu_lidar = None
    imu_file = day / "calib_imu_to_velo.txt"
    if imu_file.is_file():
        values = read_calib_file(imu_file)
        t_lidar_imu = np.eye(4)
        t_lidar_imu[:3, :3] = values["R"].reshape(3, 3)
        t_lidar_imu[:3, 3] = values["T"]
        t_imu_lidar = invert_transform(t_lidar_imu)
    available = sorted(
        set(_frame_numbers(image_dir / "data", ".png")) & set(_frame_numbers(velo_dir / "data", ".bin"))
    )
    numbers = available if frames is None else list(frames)
    missing = sorted(set(numbers) - set(available))
    if missing:
        raise FileNotFoundError(f"{drive}: no image or sweep for frames {missing[:5]}")
    camera_stamps = read_stamps(image_dir / "timestamps.txt")
    lidar_stamps = read_stamps(velo_dir / "timestamps.txt")
    pose_stamps = read_stamps(drive / "oxts" / "timestamps.txt")
    oxts_dir = drive / "oxts" / "data"
    packet_files = [oxts_dir / f"{n:010d}.txt" for n in numbers]
    poses: list[np.ndarray | None] = [None] * len(numbers)
    if all(p.is_file() for p in packet_files) and packet_files:
        packets = [np.array([float(v) for v in p.read_text().split()]) for p in packet_files]
        poses = list(oxts_poses(packets))

    def stamp(stamps: list[int] | None, number: int) -> int | None:
        return stamps[number] if stamps is not None and number < len(stamps) else None

    for number, pose in zip(numbers, poses, strict=True):
        rgb = read_image(image_dir / "data" / f"{number:010d}.png")
        height, width = rgb.shape[:2]
        model = camera_model
        if (width, height) != (camera_model.width, camera_model.height):
            model, _ = load_kitti_calib(day, image_size=(width, height), camera=camera)
        yield KittiFrame(
            name=f"{number:010d}",
            rgb=rgb,
            points=read_sweep(velo_dir / "data" / f"{number:010d}.bin"),
            camera=model,
            t_cam_lidar=t_cam_lidar,
            camera_stamp_ns=stamp(camera_stamps, number),
            lidar_stamp_ns=stamp(lidar_stamps, number),
            pose=pose,
            pose_stamp_ns=stamp(pose_stamps, number) if pose is not None else None,
            t_imu_lidar=t_imu_lidar,
        )


def read_odometry_sequence(
    root: str | Path, sequence: str | int, frames: Iterable[int] | None = None, camera: int = 2
) -> Iterator[KittiFrame]:
    """Frames of a KITTI odometry sequence: ``root/sequences/NN/...`` and ``root/poses/NN.txt``."""
    root = Path(root)
    name = f"{int(sequence):02d}"
    folder = root / "sequences" / name
    image_dir, velo_dir = folder / f"image_{camera}", folder / "velodyne"
    calib_file = folder / "calib.txt"
    for needed in (image_dir, velo_dir, calib_file):
        if not needed.exists():
            raise FileNotFoundError(f"not a KITTI odometry sequence: {needed} does not exist")
    values = read_calib_file(calib_file)
    if f"P{camera}" not in values or "Tr" not in values:
        raise ValueError(f"{calib_file}: needs P{camera} and Tr")
    p = values[f"P{camera}"].reshape(3, 4)
    k = p[:, :3]
    offset = np.eye(4)
    offset[:3, 3] = np.linalg.solve(k, p[:, 3])
    t_cam0_lidar = np.eye(4)
    t_cam0_lidar[:3, :] = values["Tr"].reshape(3, 4)
    t_cam_lidar = offset @ t_cam0_lidar
    times_file = folder / "times.txt"
    times = [float(v) for v in times_file.read_text().split()] if times_file.is_file() else None
    pose_file = root / "poses" / f"{name}.txt"
    cam0_poses = None
    if pose_file.is_file():
        rows = np.loadtxt(pose_file, ndmin=2)
        cam0_poses = [np.vstack([row.reshape(3, 4), [0, 0, 0, 1]]) for row in rows]
    available = sorted(set(_frame_numbers(image_dir, ".png")) & set(_frame_numbers(velo_dir, ".bin")))
    numbers = available if frames is None else list(frames)
    for number in numbers:
        rgb = read_image(image_dir / f"{number:06d}.png")
        height, width = rgb.shape[:2]
        model = CameraModel(
            width,
            height,
            k=k,
            p=np.hstack([k, np.zeros((3, 1))]),
            d=np.zeros(5),
            r=np.eye(3),
            distortion_model="plumb_bob",
            rectified=True,
        )
        stamp = int(round(times[number] * 1e9)) if times is not None and number < len(times) else None
        pose = (
            cam0_poses[number] @ t_cam0_lidar if cam0_poses is not None and number < len(cam0_poses) else None
        )
        yield KittiFrame(
            name=f"{name}_{number:06d}",
            rgb=rgb,
            points=read_sweep(velo_dir / f"{number:06d}.bin"),
            camera=model,
            t_cam_lidar=t_cam_lidar,
            camera_stamp_ns=stamp,
            lidar_stamp_ns=stamp,
            pose=pose,
        )


def read_object_layout(folder: str | Path, names: Iterable[str] | None = None) -> Iterator[KittiFrame]:
    """Frames of the KITTI object layout (``image_2/*.png``, ``velodyne/*.bin``, ``calib/*.txt``)."""
    folder = Path(folder)
    names = sorted(p.stem for p in (folder / "image_2").glob("*.png")) if names is None else list(names)
    if not names:
        raise FileNotFoundError(f"no KITTI frames (image_2/*.png) in {folder}")
    for name in names:
        rgb = read_image(folder / "image_2" / f"{name}.png")
        height, width = rgb.shape[:2]
        camera, t_cam_lidar = load_kitti_calib(folder / "calib" / f"{name}.txt", image_size=(width, height))
        yield KittiFrame(name, rgb, read_sweep(folder / "velodyne" / f"{name}.bin"), camera, t_cam_lidar)


def layout_of(path: str | Path) -> str:
    """``raw``, ``odometry`` or ``object``: which KITTI layout ``path`` holds (FileNotFoundError if none)."""
    path = Path(path)
    if (path / "velodyne_points" / "data").is_dir():
        return "raw"
    if (path / "sequences").is_dir():
        return "odometry"
    if (path / "image_2").is_dir() and (path / "velodyne").is_dir():
        return "object"
    raise FileNotFoundError(
        f"{path} is no KITTI folder: expected a raw drive (velodyne_points/data), an odometry root "
        "(sequences/) or the object layout (image_2/, velodyne/, calib/)"
    )


def read_kitti(path: str | Path) -> Iterator[KittiFrame]:
    """Every frame of a raw drive, an object-layout folder, or every sequence of an odometry root."""
    layout = layout_of(path)
    if layout == "raw":
        yield from read_raw_drive(path)
    elif layout == "object":
        yield from read_object_layout(path)
    else:
        for sequence in sorted(p.name for p in (Path(path) / "sequences").iterdir() if p.name.isdigit()):
            yield from read_odometry_sequence(path, sequence)


def dc_crop_box(width: int, height: int, crop: tuple[int, int] = KITTI_DC_CROP) -> tuple[int, int, int, int]:
    """(x, y, width, height) of KITTI depth completion's crop: the bottom rows, centred columns."""
    crop_h, crop_w = crop
    if crop_h > height or crop_w > width:
        raise ValueError(f"crop {crop_w}x{crop_h} does not fit a {width}x{height} image")
    return (width - crop_w) // 2, height - crop_h, crop_w, crop_h


def frame_depth(frame: KittiFrame, mask: np.ndarray | None = None) -> np.ndarray:
    """(H, W) float32 sparse depth in metres (0 = no point) of the frame's points, those of ``mask``
    (N bools; None: all)."""
    return project_to_depth(frame.points if mask is None else frame.points[mask], frame.t_cam_lidar,
                            frame.camera)


def cut_to_box(image: np.ndarray, box: tuple[int, int, int, int] | None) -> np.ndarray:
    """``image`` cut to ``box`` ((x, y, width, height) pixels, e.g. :func:`dc_crop_box`'s; None: the
    whole image), C-contiguous."""
    if box is not None:
        x, y, w, h = box
        image = image[y : y + h, x : x + w]
    return np.ascontiguousarray(image)
