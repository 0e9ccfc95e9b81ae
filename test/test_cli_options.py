"""The command line reaches the ROS layer as typed options: every field from the argument of its name."""
from __future__ import annotations

from pathlib import Path

import pytest

from nlspn_ros.cli import build_parser, options
from nlspn_ros.ros.bag_cli import RecordOptions, ReplayOptions
from nlspn_ros.ros.demo import DemoOptions


@pytest.mark.parametrize(("argv", "cls", "expected"), [
    (["replay", "b.mcap", "--rate", "2", "--prefix", "/sim", "--no-clock", "--wait-for-subscribers", "5",
      "--wait-topics", "/a", "--wait-for-node", "/n", "--delay", "0.5"], ReplayOptions,
     ReplayOptions(Path("b.mcap"), 2.0, None, "/sim", True, 5.0, ["/a"], "/n", 0.5)),
    (["record", "out", "--topics", "/x", "/y", "--storage", "sqlite3", "--duration", "3"], RecordOptions,
     RecordOptions(Path("out"), ["/x", "/y"], "sqlite3", 3.0, 10.0)),
    (["demo", "--no-kitti", "--frames", "2", "--method", "ip_basic", "--quiet"], DemoOptions,
     DemoOptions(Path("reports/demo"), 2, 320, 96, 256, True, None, 3, "ip_basic", None, "auto", "mcap",
                 1.0, True)),
])
def test_parsed_arguments_become_the_ros_layers_options(argv, cls, expected):
    assert options(cls, build_parser().parse_args(argv)) == expected


def test_options_need_every_field():
    """A field the parser does not define is an error at once, not a default picked silently."""
    args = build_parser().parse_args(["record", "out", "--topics", "/x"])
    del args.storage
    with pytest.raises(AttributeError, match="storage"):
        options(RecordOptions, args)
