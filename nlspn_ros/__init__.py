"""nlspn_ros: NLSPN depth completion for ROS 2.

The core (geometry, model, pairing, metrics, data) is ROS-free; ``nlspn_ros.ros``
is the only subpackage that imports rclpy. Keep this file light: every user of
the generated messages (``nlspn_ros.msg``) imports it.
"""
from pkgutil import extend_path

# Merge the source tree with the colcon install, which holds the generated msg/.
__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
