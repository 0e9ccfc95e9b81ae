"""Child process for the replay tests (needs tf2_ros): a tf2_ros Buffer + TransformListener, tf2's
own subscriptions and QoS, looks up TARGET <- SOURCE; prints ``listening``, then ``found`` and the
4x4 row-major matrix as JSON, or ``not found`` after TIMEOUT seconds.

    python test/processes/tf_lookup.py TARGET SOURCE TIMEOUT
"""
import json
import sys
import time

import rclpy
import tf2_ros
import transforms3d
from rclpy.time import Time


def main() -> None:
    target, source, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    rclpy.init()
    node = rclpy.create_node("tf_lookup")
    buffer = tf2_ros.Buffer()
    tf2_ros.TransformListener(buffer, node)
    print("listening", flush=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not buffer.can_transform(target, source, Time()):
        rclpy.spin_once(node, timeout_sec=0.1)
    if buffer.can_transform(target, source, Time()):
        t = buffer.lookup_transform(target, source, Time()).transform
        matrix = transforms3d.affines.compose(
            [t.translation.x, t.translation.y, t.translation.z],
            transforms3d.quaternions.quat2mat([t.rotation.w, t.rotation.x, t.rotation.y, t.rotation.z]),
            [1.0, 1.0, 1.0])
        print("found " + json.dumps(matrix.ravel().tolist()), flush=True)
    else:
        print("not found", flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == "__main__":
    main()
