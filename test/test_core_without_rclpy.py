"""The ROS-free core imports with rclpy (and the generated messages) hidden."""
import json
import subprocess
import sys

from ros_util import REPO_ROOT

PROBE = r"""
import importlib, json, pkgutil, sys

class HideROS:
    def find_spec(self, name, path=None, target=None):
        hidden = ('rclpy', 'rosidl_runtime_py', 'sensor_msgs', 'std_msgs')
        if name.split('.')[0] in hidden or name == 'nlspn_ros.msg':
            raise ImportError(f'{name} hidden by the test')
        return None

sys.meta_path.insert(0, HideROS())
import nlspn_ros
light = 'torch' not in sys.modules
core = []
ROS_LAYER = ('ros', 'msg')

def failed(name):
    if name.split('.')[1] not in ROS_LAYER:
        raise ImportError(f'core package {name} failed to import')

for info in pkgutil.walk_packages(nlspn_ros.__path__, 'nlspn_ros.', onerror=failed):
    if info.name.split('.')[1] in ROS_LAYER or info.name.endswith('__main__'):
        continue
    importlib.import_module(info.name)
    core.append(info.name)
print(json.dumps({'light_init': light, 'modules': core,
                  'rclpy_loaded': any(m.split('.')[0] == 'rclpy' for m in sys.modules)}))
"""


def test_core_imports_without_rclpy():
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["light_init"], "importing nlspn_ros must not import torch"
    assert not report["rclpy_loaded"]
    assert "nlspn_ros.paths" in report["modules"]
    assert "nlspn_ros.completion" in report["modules"]


def test_ros_layer_is_the_only_rclpy_user():
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for path in (REPO_ROOT / "nlspn_ros").rglob("*.py")
        if "ros" not in path.relative_to(REPO_ROOT / "nlspn_ros").parts[:1]
        and ("import rclpy" in path.read_text() or "from rclpy" in path.read_text())
    ]
    assert offenders == [], f"only nlspn_ros/ros/ may import rclpy: {offenders}"
