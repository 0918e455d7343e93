"""sr_lifecycle_node: :mod:`sr_node <depth_refine_ros.ros.sr_node>` as a managed (lifecycle) node.

Same name (``sr_node``), parameters and topics; the user (or a lifecycle manager) drives it through
the standard lifecycle services (``ros2 lifecycle set /sr_node configure``):

- configure: read and validate the parameters, load and warm up the models; a bad model or
  parameter fails the transition (reason logged) and the node stays unconfigured, alive;
- activate: subscribe to the inputs, create the outputs, timers and worker thread;
- deactivate: stop the worker and remove subscriptions, publishers and timers (no outputs);
- cleanup: release the pipelines (back to unconfigured);
- shutdown (from any state): release everything; the process then exits with 0.
"""
from __future__ import annotations

import sys

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from depth_refine_ros.pipeline.factory import close_pipelines
from depth_refine_ros.ros.node_base import RefineNode, run_node
from depth_refine_ros.ros.params import SrParams, declare, read
from depth_refine_ros.ros.sr_node import SrNode


class SrLifecycleNode(SrNode, LifecycleNode):
    """SrNode whose set-up (``_build``, ``_start_io``) runs from the lifecycle transitions."""

    def __init__(self, **kwargs) -> None:
        RefineNode.__init__(self, "sr_node", **kwargs)  # -> LifecycleNode.__init__ (MRO), not SrNode's
        declare(self, SrParams)  # values are checked at configure
        self.p = None
        self.pipeline = self.depth_only = None
        self._io = False
        self.finished = False  # set by the shutdown transition: run_node then returns
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.get_logger().info("sr_node (managed) unconfigured: ros2 lifecycle set "
                               f"{self.get_fully_qualified_name()} configure")

    # ---------------------------------------------------------------- transitions
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.p = read(self, SrParams)
            self._build()
        except Exception as e:  # a bad model or parameter: fail the transition, stay alive
            self.get_logger().error(f"configure failed: {type(e).__name__}: {e}")
            self._release()
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(f"configured: backend {self.pipeline.backend.describe()}, "
                               f"without rgb: {self.depth_only.backend.describe()}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._start_io()
        self._io = True
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_io()
        self.get_logger().info("deactivated: no subscriptions, no outputs")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.get_logger().info("cleaned up: pipelines released")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.stop()
        self.finished = True
        self.get_logger().info(f"shut down from {state.label}")
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error(f"error in {state.label}: releasing everything (back to unconfigured)")
        self.stop()
        return TransitionCallbackReturn.SUCCESS

    # ---------------------------------------------------------------- helpers
    def _stop_io(self) -> None:
        """Stop the worker (a frame in flight finishes), then remove subscriptions, publishers, timers."""
        if not self._io:
            return
        self._io = False
        RefineNode.stop(self)
        for sub in self._subs.values():
            self.destroy_subscription(sub)
        self._subs.clear()
        for pub in (self.pub_depth, self.pub_info, self.pub_points, self.pub_diag, self.pub_stats):
            if pub is not None:
                self.destroy_publisher(pub)
        self.pub_depth = self.pub_info = self.pub_points = self.pub_diag = self.pub_stats = None
        for t in self._timers:
            self.destroy_timer(t)
        self._timers = []

    def _release(self) -> None:
        """Drop the pipelines (closing the registration's background estimate and background compiles)."""
        close_pipelines(self.pipeline, self.depth_only)
        self.pipeline = self.depth_only = None
        self._stats_ids = {}

    def stop(self) -> None:
        """From any state: stop I/O and release the pipelines (idempotent)."""
        self._stop_io()
        RefineNode.stop(self)
        self._release()


def main(args: list[str] | None = None) -> int:
    """Console entry point: ``sr_lifecycle_node --ros-args --params-file config/sr.yaml``."""
    return run_node(SrLifecycleNode, "sr_lifecycle_node", args)


if __name__ == "__main__":
    sys.exit(main())
