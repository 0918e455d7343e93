"""numpy-only building blocks: encodings, depth validity, intrinsics, clouds, classical upsamplers.

Nothing in here imports rclpy, message types or torch. Depth is ``(H, W) float32`` metres with
NaN marking invalid pixels.
"""
