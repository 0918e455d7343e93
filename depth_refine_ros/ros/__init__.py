"""The only layer that touches ROS: conversions, time sync, QoS, parameters, diagnostics, nodes.

``sync`` is deliberately free of rclpy (integer-nanosecond stamps) so bag tools reuse it.
"""
