"""nlspn_node as a lifecycle (managed) node: with ``autostart:=false`` it waits unconfigured and
follows the standard transitions requested through its ``change_state`` service, from another
process, as a lifecycle manager would (real rclpy, a small random-init NLSPN on the CPU)."""
from __future__ import annotations

import pytest
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState

from ros_util import SEC, Harness, make_frame, start_node, stop_process, wait_until

pytestmark = [pytest.mark.ros, pytest.mark.slow]


class Manager:
    """Calls the node's lifecycle services from the test harness node."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.get = harness.node.create_client(GetState, "/nlspn_node/get_state")
        self.change = harness.node.create_client(ChangeState, "/nlspn_node/change_state")

    def _call(self, client, request):
        assert client.wait_for_service(timeout_sec=30.0), f"{client.srv_name} not offered"
        future = client.call_async(request)
        assert self.harness.wait(future.done, 60.0), f"{client.srv_name} did not answer"
        return future.result()

    def state(self) -> str:
        return self._call(self.get, GetState.Request()).current_state.label

    def transition(self, transition_id: int) -> bool:
        return self._call(self.change, ChangeState.Request(transition=Transition(id=transition_id))).success


@pytest.fixture
def harness(ros_domain):
    h = Harness(ros_domain())
    yield h
    h.close()


def subscribed(harness: Harness) -> bool:
    return all(p.get_subscription_count() > 0 for p in harness.pub.values())


def test_transitions_load_the_model_subscribe_publish_and_release(harness, checkpoint) -> None:
    proc = start_node(checkpoint, harness.domain, autostart=False)
    manager = Manager(harness)
    try:
        assert manager.state() == "unconfigured"
        assert not subscribed(harness) and not harness.messages("/diagnostics")

        assert manager.transition(Transition.TRANSITION_CONFIGURE)
        assert manager.state() == "inactive"
        # configured: diagnostics flow, the inputs are not subscribed yet
        assert harness.wait(lambda: harness.counters().get("active") == "false", proc=proc)
        assert not subscribed(harness)

        assert manager.transition(Transition.TRANSITION_ACTIVATE)
        assert manager.state() == "active"
        assert harness.wait(lambda: subscribed(harness), proc=proc)
        t = 100 * SEC
        image, info, cloud = make_frame(t, depth=6.0)
        harness.send(t, image=image, info=info, cloud=cloud)
        assert harness.wait(lambda: harness.outputs_for("depth/image", t), proc=proc), "no output when active"

        assert manager.transition(Transition.TRANSITION_DEACTIVATE)
        assert manager.state() == "inactive"
        assert harness.wait(lambda: not any(p.get_subscription_count() for p in harness.pub.values()))
        assert harness.wait(lambda: harness.counters().get("active") == "false", proc=proc)
        completed = int(harness.settled_counters()["frames.completed"])
        assert completed == 1

        assert manager.transition(Transition.TRANSITION_ACTIVATE)  # and back: the model is still loaded
        assert harness.wait(lambda: subscribed(harness), proc=proc)
        t2 = 101 * SEC
        image, info, cloud = make_frame(t2, depth=7.0)
        harness.send(t2, image=image, info=info, cloud=cloud)
        assert harness.wait(lambda: harness.outputs_for("depth/image", t2), proc=proc)

        assert manager.transition(Transition.TRANSITION_DEACTIVATE)
        assert manager.transition(Transition.TRANSITION_CLEANUP)
        assert manager.state() == "unconfigured"
        assert proc.poll() is None
    finally:
        output = stop_process(proc)
    assert proc.returncode == 0, output


def test_a_model_that_cannot_be_loaded_leaves_the_node_unconfigured_and_alive(harness, tmp_path) -> None:
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    proc = start_node(broken, harness.domain, autostart=False)
    manager = Manager(harness)
    try:
        assert manager.state() == "unconfigured"
        assert not manager.transition(Transition.TRANSITION_CONFIGURE)
        assert manager.state() == "unconfigured"
        assert proc.poll() is None
        assert not wait_until(lambda: harness.messages("/diagnostics"), timeout=1.0)
    finally:
        output = stop_process(proc)
    assert "cannot configure" in output and "cannot load the nlspn model" in output and str(broken) in output
    assert proc.returncode == 0, output
