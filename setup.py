"""pip installation of the ROS-free part: core library and the ``nlspn_ros`` command.

For users who only evaluate bags or train (``pip install .``). The ROS package itself
(messages, node executable, launch files) is built by colcon from CMakeLists.txt; the
commands that talk to a live ROS graph (replay, record, demo) need rclpy from a ROS 2
installation. Dependencies come from requirements.txt, the project's one pin file.
"""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
TEST_TOOLS = {"pytest", "hypothesis", "ruff"}


def requirements() -> tuple[list[str], list[str]]:
    runtime, test = [], []
    for line in (HERE / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            (test if line.split("==")[0] in TEST_TOOLS else runtime).append(line)
    return runtime, test


RUNTIME, TEST = requirements()

setup(
    name="nlspn_ros",
    version="0.1.0",
    description="NLSPN depth completion (ECCV 2020) for LiDAR + camera: core library and bag tools",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["nlspn_ros", "nlspn_ros.*"]),
    package_data={"nlspn_ros": ["models/*.pt"]},
    data_files=[("share/nlspn_ros/msg", [str(p.relative_to(HERE)) for p in sorted(HERE.glob("msg/*.msg"))])],
    install_requires=RUNTIME,
    extras_require={"test": TEST},
    entry_points={"console_scripts": ["nlspn_ros = nlspn_ros.cli:main"]},
)
