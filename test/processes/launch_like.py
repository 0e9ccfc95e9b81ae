"""Child process for test_node_shutdown: starts a command the way ``ros2 launch`` runs a node.

launch / launch_ros are not installable here (no PyPI wheels), so this stands in for the part of
them that matters to a node's shutdown: the node runs as a child in the launcher's process group;
on SIGINT (or SIGTERM) the launcher sends the node SIGINT itself, escalates to SIGTERM after
``sigterm_timeout`` (launch's default: 5 s) and to SIGKILL after as long again; a second signal to the
launcher does not send another SIGINT. When the child ends the launcher prints a line like
launch's (``process has finished cleanly`` or ``process has died [... exit code N]``) and exits with
the child's status (0 if clean, 1 otherwise).

Usage: launch_like.py [--sigterm-timeout S] -- python args...
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sigterm-timeout", type=float, default=5.0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    child = subprocess.Popen(command)  # same process group: a signal to the group reaches both
    stopping = threading.Event()

    def escalate() -> None:
        child.send_signal(signal.SIGINT)
        for follow_up in (signal.SIGTERM, signal.SIGKILL):
            try:
                child.wait(timeout=args.sigterm_timeout)
                return
            except subprocess.TimeoutExpired:
                print(f"[launch_like] sending {follow_up.name} to the node", flush=True)
                child.send_signal(follow_up)

    def on_signal(signum: int, _frame) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=escalate, daemon=True).start()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = child.wait()
    if code == 0:
        print(f"[launch_like] process has finished cleanly [pid {child.pid}]", flush=True)
        return 0
    print(f"[launch_like] process has died [pid {child.pid}, exit code {code}]", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
