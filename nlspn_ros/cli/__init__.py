"""The ``nlspn_ros`` command: one entry point, one module per subcommand.

Each subcommand module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``; keep its top-level imports light so ``--help`` is fast and
import heavy libraries (torch, rosbags) inside ``run``.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
from typing import TypeVar

Options = TypeVar("Options")

# subcommand name -> module (imported only when that subcommand is used or listed)
COMMANDS: dict[str, str] = {
    "make-bag": "nlspn_ros.cli.make_bag",
    "replay": "nlspn_ros.cli.replay",
    "record": "nlspn_ros.cli.record",
    "evaluate": "nlspn_ros.cli.evaluate",
    "demo": "nlspn_ros.cli.demo",
    "project": "nlspn_ros.cli.project",
    "train": "nlspn_ros.cli.train",
    "evaluate-synthetic": "nlspn_ros.cli.evaluate_synthetic",
    "evaluate-kitti": "nlspn_ros.cli.evaluate_kitti",
}


def options(cls: type[Options], args: argparse.Namespace) -> Options:
    """The options dataclass ``cls`` of a lower layer (e.g. ``ros.bag_cli.ReplayOptions``) from the
    parsed arguments: each field takes the argument of its name, so ros/ never sees argparse."""
    return cls(**{field.name: getattr(args, field.name) for field in dataclasses.fields(cls)})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nlspn_ros", description="NLSPN depth completion: offline tools and bag workflows."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    from nlspn_ros.allocator import keep_freed_memory

    keep_freed_memory()  # as the node: per-frame buffers reuse the heap (see nlspn_ros.allocator)
    args = build_parser().parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
