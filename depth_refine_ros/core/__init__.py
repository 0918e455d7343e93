"""numpy-only building blocks: encodings, depth validity, intrinsics, clouds, classical upsamplers.

Nothing in here imports rclpy, message types or torch, reads or writes files, or starts threads.
Depth is ``(H, W) float32`` metres with NaN marking invalid pixels.
"""
