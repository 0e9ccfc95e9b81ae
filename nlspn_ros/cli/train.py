"""``nlspn_ros train``: train NLSPN (official loss, optimizer and schedule) on synthetic or KITTI DC data."""

from __future__ import annotations

import argparse

HELP = "train NLSPN on synthetic scenes or the KITTI depth-completion layout (torchrun for multi-GPU)"


def _seed_range(text: str) -> range:
    first, _, last = text.partition(":")
    try:
        return range(int(first), int(last))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected FIRST:END (end exclusive), got {text!r}") from exc


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        choices=("synthetic", "kitti", "real", "bag"),
        default="synthetic",
        help="synthetic scenes; kitti: the KITTI depth-completion layout (split JSON); "
        "real: KITTI raw drives, "
        "odometry roots or object-layout folders trained from their own LiDAR (held-out pixels or rings); "
        "bag: a rosbag2 sensor bag",
    )
    parser.add_argument("--out", required=True, help="folder for checkpoints (last.pt, step_*.pt)")
    parser.add_argument(
        "--seeds",
        type=_seed_range,
        default=range(0, 500),
        help="synthetic: frame seeds FIRST:END (default 0:500; evaluation uses 1000000+)",
    )
    parser.add_argument(
        "--frame-size",
        type=int,
        nargs=2,
        metavar=("W", "H"),
        default=(1216, 352),
        help="synthetic: rendered frame size (default 1216 352, KITTI's)",
    )
    parser.add_argument("--cache-dir", help="synthetic: render each frame once into this folder (.npz)")
    parser.add_argument("--kitti-root", help="kitti: dataset root the split JSON's paths are relative to")
    parser.add_argument(
        "--real", nargs="+", metavar="DIR", help="real: KITTI raw drive / odometry root / object folders"
    )
    parser.add_argument(
        "--protocols",
        default="pixels,rings",
        help="real: holdout protocols drawn per item, comma-separated (pixels, rings; default both)",
    )
    parser.add_argument(
        "--pixel-share",
        type=_floats,
        default=(0.2, 0.5),
        help="real: range of the share of pixels held out by the pixels protocol (default 0.2,0.5)",
    )
    parser.add_argument("--bag", help="bag: the rosbag2 sensor bag (its .params.yaml beside it is read)")
    parser.add_argument(
        "--holdout",
        type=float,
        default=0.2,
        help="bag without a ground-truth topic: share of the projected LiDAR pixels held out as targets",
    )
    parser.add_argument("--split-json", help="kitti: official split JSON ({'train': [{rgb, depth, gt, K}]})")
    parser.add_argument(
        "--crop",
        type=int,
        nargs=2,
        metavar=("H", "W"),
        default=(128, 256),
        help="random training crop (default 128 256)",
    )
    parser.add_argument("--config", choices=("small", "resnet18", "resnet34"), default="small")
    parser.add_argument(
        "--prefill",
        choices=("none", "ip_basic"),
        default="ip_basic",
        help="small: initial depth = IP-Basic fill + learned residual (default, the shipped model) or none",
    )
    parser.add_argument("--steps", type=int, default=1000, help="total optimizer steps")
    parser.add_argument("--batch-size", type=int, default=4, help="per process")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument(
        "--decay", type=_floats, default=(10, 15, 20), help="official epochs (default 10,15,20)"
    )
    parser.add_argument("--gamma", type=_floats, default=(1.0, 0.2, 0.04), help="default 1.0,0.2,0.04")
    parser.add_argument("--epochs", type=float, default=20, help="official epochs spread over --steps")
    parser.add_argument("--no-warm-up", action="store_true", help="skip the official first-epoch warm-up")
    parser.add_argument("--max-depth", type=float, default=90.0)
    parser.add_argument(
        "--l1-weight", type=float, default=1.0, help="loss = l1 * L1 + l2 * L2 (official: 1, 1)"
    )
    parser.add_argument("--l2-weight", type=float, default=1.0)
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--time-limit", type=float, help="minutes: stop early with a checkpoint")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--seed", type=int, default=0, help="weights init, sampling order and crops")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--resume", help="checkpoint written by this command (its .state.pt beside it)")
    parser.add_argument("--init", help="start from this checkpoint's weights (new optimizer and schedule)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import json
    import logging

    import torch

    from nlspn_ros.data.datasets import KittiDCDataset, LidarHoldoutDataset, SyntheticDataset
    from nlspn_ros.data.kitti import read_kitti
    from nlspn_ros.model import NLSPNConfig
    from nlspn_ros.offline.bag_dataset import BagFramesDataset
    from nlspn_ros.offline.training import TrainSettings, train

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    crop = tuple(args.crop)
    if args.data == "synthetic":
        dataset = SyntheticDataset(
            args.seeds, args.cache_dir, crop=crop, seed=args.seed, size=tuple(args.frame_size)
        )
        data_meta = {"data": "synthetic", "seeds": [args.seeds.start, args.seeds.stop]}
    elif args.data == "real":
        if not args.real:
            print("error: --data real needs --real DIR [DIR ...]")
            return 2
        frames = [frame for folder in args.real for frame in read_kitti(folder)]
        protocols = tuple(p for p in args.protocols.split(",") if p)
        dataset = LidarHoldoutDataset(
            frames, crop=crop, seed=args.seed, protocols=protocols, pixel_share=tuple(args.pixel_share)
        )
        data_meta = {
            "data": "real",
            "real": [str(p) for p in args.real],
            "frames": len(frames),
            "protocols": list(protocols),
            "pixel_share": list(args.pixel_share),
        }
    elif args.data == "bag":
        if not args.bag:
            print("error: --data bag needs --bag")
            return 2
        dataset = BagFramesDataset(args.bag, args.holdout, crop=crop, seed=args.seed)
        data_meta = {"data": "bag", "bag": args.bag, "holdout": args.holdout}
    else:
        if not (args.kitti_root and args.split_json):
            print("error: --data kitti needs --kitti-root and --split-json")
            return 2
        dataset = KittiDCDataset(args.kitti_root, args.split_json, "train", crop=crop, seed=args.seed)
        data_meta = {"data": "kitti", "split_json": args.split_json}
    if args.config == "small":
        config = NLSPNConfig.small(prefill=args.prefill)
    else:
        config = NLSPNConfig(network=args.config)
    settings = TrainSettings(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        decay=args.decay,
        gamma=args.gamma,
        epochs=args.epochs,
        warm_up=not args.no_warm_up,
        max_depth=args.max_depth,
        l1_weight=args.l1_weight,
        l2_weight=args.l2_weight,
        checkpoint_every=args.checkpoint_every,
        time_limit_s=None if args.time_limit is None else args.time_limit * 60.0,
        workers=args.workers,
        seed=args.seed,
        device=args.device,
        extra_meta={**data_meta, "crop": list(crop), "init": args.init},
    )
    summary = train(
        dataset, args.out, settings, config, resume=args.resume, progress=not args.quiet, init=args.init
    )
    print(json.dumps(summary))
    return 0
