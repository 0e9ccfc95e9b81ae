"""The ROS package and the pip package are what users and rosdep expect."""
import ast
import shutil
import subprocess
import sys
import zipfile

from catkin_pkg.package import parse_package

from ros_util import REPO_ROOT

INSTALL = REPO_ROOT / "install" / "nlspn_ros"


def test_package_xml_is_valid_format3():
    package = parse_package(str(REPO_ROOT / "package.xml"))
    package.validate()
    assert package.name == "nlspn_ros"
    assert package.package_format == 3
    assert package.get_build_type() == "ament_cmake"
    assert package.licenses and package.maintainers
    assert "rosidl_interface_packages" in [g.name for g in package.member_of_groups]
    exec_deps = {d.name for d in package.exec_depends}
    assert {"rclpy", "rosidl_default_runtime", "diagnostic_msgs"} <= exec_deps
    # what the launch files and the replay need from a ROS distribution (not installable from PyPI)
    assert {"launch", "launch_ros", "ament_index_python", "tf2_msgs"} <= exec_deps
    assert {"ros2launch", "tf2_ros_py"} <= {d.name for d in package.test_depends}


def test_package_xml_declares_every_ros_package_the_code_imports():
    """rosdep installs what package.xml names: every ROS package imported by nlspn_ros/ (tf2_ros
    too, optional where no ROS distribution provides it, with the tf2_msgs it needs)."""
    package = parse_package(str(REPO_ROOT / "package.xml"))
    dependencies = [*package.exec_depends, *package.build_depends, *package.build_export_depends]
    declared = {d.name for d in dependencies}
    imported = set()
    for path in (REPO_ROOT / "nlspn_ros").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            imported |= {name.split(".")[0] for name in names}
    ros = {name for name in imported if name.endswith("_msgs") or name in ("rclpy", "tf2_ros")}
    assert {"rclpy", "sensor_msgs", "tf2_ros"} <= ros  # the scan sees the imports
    assert not ros - declared, f"package.xml lacks {sorted(ros - declared)}"
    assert "tf2_msgs" in declared  # tf2_ros's listener subscribes with it; /tf_static in bags


def test_colcon_install_tree():
    """What scripts/setup's colcon build installs, where ros2 run / ros2 launch look for it."""
    for exe in ("nlspn_node", "nlspn_ros"):
        path = INSTALL / "lib" / "nlspn_ros" / exe
        assert path.is_file(), f"{path} missing: run scripts/setup"
        assert path.stat().st_mode & 0o111, f"{path} is not executable"
    share = INSTALL / "share" / "nlspn_ros"
    assert (share / "package.xml").is_file()
    assert (share / "msg" / "DepthCompletion.msg").is_file()
    for folder in ("launch", "config"):
        sources = {p.name for p in (REPO_ROOT / folder).iterdir() if p.is_file()}
        installed = {p.name for p in (share / folder).iterdir()} if (share / folder).is_dir() else set()
        assert sources <= installed, f"{folder}/ not installed: {sorted(sources - installed)}"


def test_installed_executable_runs():
    """The generated launcher reaches the package's CLI (--help needs no ROS graph)."""
    result = subprocess.run(
        [sys.executable, str(INSTALL / "lib" / "nlspn_ros" / "nlspn_ros"), "--help"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: nlspn_ros" in result.stdout


def test_pip_wheel_holds_the_core_and_the_command(tmp_path):
    # Build from a copy: setuptools writes build/ into the source, where colcon's build/ lives.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("setup.py", "requirements.txt"):
        shutil.copy2(REPO_ROOT / name, source / name)
    for folder in ("nlspn_ros", "msg"):
        shutil.copytree(REPO_ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(source)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("nlspn_ros-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "nlspn_ros/paths.py" in names and "nlspn_ros/cli/__init__.py" in names
    assert any(n.endswith("share/nlspn_ros/msg/DepthCompletion.msg") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "nlspn_ros = nlspn_ros.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_readme_layout_lists_the_package_as_it_is():
    """The README's layout section names every package and top-level module of nlspn_ros/, and
    nothing that is gone."""
    readme = (REPO_ROOT / "README.md").read_text()
    block = readme.split("## Layout", 1)[1].split("```", 2)[1]
    listed = {line.split()[0] for line in block.splitlines() if line.startswith("  ") and line[2] != " "}
    root = REPO_ROOT / "nlspn_ros"
    present = {f"{p.name}/" for p in root.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    present |= {p.name for p in root.glob("*.py") if p.name != "__init__.py"}
    present |= {"models/"}  # the shipped weights (no Python)
    assert listed == present, f"README: {sorted(listed - present)} gone, {sorted(present - listed)} missing"
