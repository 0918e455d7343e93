"""sr_lifecycle_node (the managed sr_node) over real DDS, driven through its lifecycle services:
unconfigured -> configure -> inactive (no outputs) -> activate (refined depth, same stamp) ->
deactivate (no outputs) -> cleanup -> shutdown (exit 0); a bad model fails configure, node alive."""
import pytest
from conftest import classical_unless_named
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState

from depth_refine_ros.ros.rig import NodeProcess, Rig, camera_infos, default_params_file, key, synthetic_frame

pytestmark = [pytest.mark.ros, pytest.mark.slow]
H, W, S = 96, 128, 4
T = Transition


def start(*overrides: str) -> NodeProcess:
    """The managed node on the classical backend (its life cycle, not a network, is under test)."""
    return NodeProcess(*classical_unless_named(overrides), executable="sr_lifecycle_node",
                       parameters=[default_params_file("sr.yaml")]).__enter__()


class Lifecycle:
    """The node's /sr_node/change_state and /sr_node/get_state, called from the rig's node."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.change = rig.node.create_client(ChangeState, "/sr_node/change_state")
        self.get = rig.node.create_client(GetState, "/sr_node/get_state")
        assert rig.wait_for(lambda: self.change.service_is_ready() and self.get.service_is_ready(), 30), \
            "the lifecycle services never appeared"

    def _call(self, client, request, timeout: float = 30.0):
        future = client.call_async(request)
        assert self.rig.wait_for(future.done, timeout), f"no reply from {client.srv_name}"
        return future.result()

    def state(self) -> str:
        return self._call(self.get, GetState.Request()).current_state.label

    def set(self, transition: int) -> bool:
        return self._call(self.change, ChangeState.Request(transition=Transition(id=transition))).success


def send(rig: Rig, stamp: float) -> int:
    rgb, lr = synthetic_frame(H, W, S)
    return rig.send(rgb, "rgb8", lr, "16UC1", stamp, camera_infos(H, W, S, stamp))


def assert_silent(rig: Rig, node: NodeProcess, stamp: float) -> None:
    """No output publisher, and a frame sent now gets no output."""
    assert rig.wait_for(lambda: all(s.get_publisher_count() == 0 for s in rig.subs), 10), node.log()[-2000:]
    rig.images.clear(), rig.infos.clear(), rig.clouds.clear()
    k = send(rig, stamp)
    rig.spin(1.5)
    assert k not in rig.images and not rig.images and not rig.infos, node.log()[-2000:]


def test_full_lifecycle_over_services():
    node = start()
    rig = Rig(name="rig_lifecycle")
    try:
        lc = Lifecycle(rig)
        assert lc.state() == "unconfigured"
        assert lc.set(T.TRANSITION_CONFIGURE), node.log()[-2000:]
        assert lc.state() == "inactive"
        assert_silent(rig, node, 1_900_000_000.0)

        assert lc.set(T.TRANSITION_ACTIVATE), node.log()[-2000:]
        assert lc.state() == "active"
        rig.wait_matched(20)
        rgb, lr = synthetic_frame(H, W, S)
        rig.prime(rgb, lr, "16UC1", 1_900_000_010.0, camera_infos(H, W, S, 1_900_000_010.0))
        stamp = 1_900_000_020.25
        k = send(rig, stamp)
        assert rig.wait_for(lambda: k in rig.images and k in rig.infos, 10), node.log()[-2000:]
        m = rig.images[k][1]
        assert key(m.header) == k and (m.header.stamp.sec, m.header.stamp.nanosec) == (1_900_000_020, 250_000_000)
        assert (m.encoding, m.height, m.width) == ("32FC1", H, W)

        assert lc.set(T.TRANSITION_DEACTIVATE), node.log()[-2000:]
        assert lc.state() == "inactive"
        assert_silent(rig, node, 1_900_000_030.0)

        assert lc.set(T.TRANSITION_CLEANUP), node.log()[-2000:]
        assert lc.state() == "unconfigured"
        assert lc.set(T.TRANSITION_UNCONFIGURED_SHUTDOWN), node.log()[-2000:]
        node.proc.wait(15)
        log = node.log()
        assert node.proc.returncode == 0, log[-2000:]
        assert "Traceback" not in log, log[-2000:]
        assert "shut down from unconfigured" in log, log[-2000:]
    finally:
        rig.close()
        node.__exit__(None, None, None)


def test_configure_with_missing_model_fails_and_node_stays_alive():
    node = start("backend:=onnxruntime", "model:=/nonexistent/sr_model")
    rig = Rig(name="rig_lifecycle_bad", clouds=False)
    try:
        lc = Lifecycle(rig)
        assert not lc.set(T.TRANSITION_CONFIGURE)
        assert lc.state() == "unconfigured"
        rig.spin(0.5)
        assert node.alive(), node.log()[-2000:]
        log = node.log()
        assert "configure failed" in log and "/nonexistent/sr_model" in log, log[-2000:]
        assert lc.state() == "unconfigured"  # still answering
    finally:
        rig.close()
    code = node.stop()
    assert code == 0, node.log()[-2000:]
    assert "Traceback" not in node.log()
