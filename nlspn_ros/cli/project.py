"""``nlspn_ros project``: project a LiDAR sweep into its image and write a PNG overlay."""
from __future__ import annotations

import argparse

HELP = "Project a LiDAR sweep into a camera image and write a colour-coded overlay PNG (near = red)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--kitti-frame", nargs=2, metavar=("DIR", "FRAME"),
                        help="KITTI object-benchmark folder (calib/, image_2/, velodyne/) and frame id, "
                             "e.g. ../shared/data/kitti_samples 000000")
    source.add_argument("--image", help="image file (then also --points and --calib)")
    parser.add_argument("--points", help="KITTI .bin (float32 x y z i) or .npy (N x 3+) LiDAR points")
    parser.add_argument("--calib", help="KITTI calibration: object-format file, raw calib file or raw folder")
    parser.add_argument("--camera", type=int, default=2, help="KITTI camera number (default 2)")
    parser.add_argument("--min-depth", type=float, default=0.1, help="metres (default 0.1)")
    parser.add_argument("--max-depth", type=float, default=float("inf"), help="metres (default: no limit)")
    parser.add_argument("--radius", type=int, default=1, help="dot radius in pixels (default 1)")
    parser.add_argument("--out", required=True, help="output PNG")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import cv2
    import numpy as np

    from nlspn_ros.geometry import load_kitti_calib, project_points
    from nlspn_ros.geometry.overlay import draw_depth_overlay

    if args.kitti_frame:
        folder, frame = Path(args.kitti_frame[0]), args.kitti_frame[1]
        image_path = folder / f"image_{args.camera}" / f"{frame}.png"
        points_path, calib_path = folder / "velodyne" / f"{frame}.bin", folder / "calib" / f"{frame}.txt"
    else:
        if not (args.points and args.calib):
            raise SystemExit("--image needs --points and --calib")
        image_path, points_path, calib_path = Path(args.image), Path(args.points), Path(args.calib)
    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"cannot read image {image_path}")
    if points_path.suffix == ".npy":
        points = np.load(points_path)
    else:
        points = np.fromfile(points_path, dtype="<f4").reshape(-1, 4)
    height, width = image.shape[:2]
    camera, t_cam_lidar = load_kitti_calib(calib_path, image_size=(width, height), camera=args.camera)
    result = project_points(points, t_cam_lidar, camera, min_depth=args.min_depth, max_depth=args.max_depth)
    overlay = draw_depth_overlay(image, result.depth, radius=args.radius)
    if not cv2.imwrite(str(args.out), overlay):
        raise SystemExit(f"cannot write {args.out}")
    filled = result.depth[result.depth > 0]
    span = f"{filled.min():.1f}..{filled.max():.1f} m" if filled.size else "none"
    print(f"{args.out}: {result.stats.landed} points landed in {width}x{height}, "
          f"{result.stats.pixels} pixels, depth {span}; {result.stats.as_dict()}")
    return 0
