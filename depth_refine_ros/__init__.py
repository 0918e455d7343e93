"""depth_refine_ros: guided depth super-resolution for ROS 2.

Layers (imports point down): ``core`` (numpy only) -> ``backends`` -> ``pipeline`` -> ``ros``
(the only code touching rclpy) and the CLI. See docs/architecture.md.
"""

__version__ = "0.1.0"
