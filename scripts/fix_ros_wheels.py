"""Rewrite the ROS 2 wheels' CMake exports to this interpreter's include directories.

The ros-jazzy-* wheels hard-code the wheel builder's Python and numpy include paths
(/opt/python/cp311-cp311/...) in their exported CMake files; configuring a package
that generates messages fails with "includes non-existent path" until they point at
the local ones. Idempotent.
"""
from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import numpy

BUILDER = "/opt/python/cp311-cp311"
REPLACEMENTS = {
    f"{BUILDER}/include/python3.11": sysconfig.get_paths()["include"],
    f"{BUILDER}/lib/python3.11/site-packages/numpy/_core/include": numpy.get_include(),
}


def main(prefix: str) -> int:
    changed = 0
    for path in Path(prefix, "share").rglob("*.cmake"):
        text = path.read_text()
        new = text
        for old, replacement in REPLACEMENTS.items():
            new = new.replace(old, replacement)
        if new != text:
            path.write_text(new)
            changed += 1
    print(f"fix_ros_wheels: {changed} CMake file(s) rewritten under {prefix}/share")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else sys.prefix))
