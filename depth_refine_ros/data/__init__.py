"""Data on disk: where the shared data lives, dataset folders, rosbag2 files, and model directories.

Below ``ros/``: nothing here imports rclpy, so training and evaluation read the same frames.
"""
