"""Data on disk: where the shared data lives, dataset folders, and rosbag2 files.

Below ``ros/``: nothing here imports rclpy, so training and evaluation read the same frames.
"""
