"""launch_testing: the package's mono.launch.py, live. Run with launch_test (not pytest, see conftest.py):

    launch_test test/launch/test_mono_launch.py

Includes the installed launch/mono.launch.py (the shipped mono_small, metric fit to the low-res depth,
in a namespace), feeds the node small synthetic RGB + low-res depth + camera_info frames, and checks
every depth, camera_info and point cloud against the package's own monocular pipeline; after
shutdown, that every process exited cleanly.
"""
import os
import unittest

import launch_testing
import launch_testing.actions
import launch_testing.asserts
import numpy as np
import rclpy
from ament_index_python.packages import get_package_share_directory
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource

from depth_refine_ros.pipeline.factory import build_mono_pipeline, mono_spec_from_settings
from depth_refine_ros.pipeline.settings import MonoParams
from depth_refine_ros.ros.rig import FRAME, Rig, camera_infos, isolate_domain, synthetic_frame
from launch import LaunchDescription

isolate_domain(base=30)  # before rclpy starts (here or in the launched node): own domain, localhost only
NAMESPACE = "lt_mono"
MODEL, BACKEND = "mono_small", "onnxruntime"
H, W, S = 192, 256, 4  # mono_small's input size
N = 6


def generate_test_description():
    mono = os.path.join(get_package_share_directory("depth_refine_ros"), "launch", "mono.launch.py")
    args = {"namespace": NAMESPACE, "model": MODEL, "backend": BACKEND, "metric_mode": "fit"}
    return LaunchDescription([
        IncludeLaunchDescription(PythonLaunchDescriptionSource(mono), launch_arguments=args.items()),
        launch_testing.actions.ReadyToTest(),
    ])


class TestMonoLaunch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rig = Rig(name="launch_test_rig", namespace=NAMESPACE, prefix="depth_mono")

    @classmethod
    def tearDownClass(cls):
        cls.rig.close()
        rclpy.try_shutdown()

    def test_metric_depth_camera_info_and_points(self):
        rig = self.rig
        rig.wait_matched(120)
        rgb, lr = synthetic_frame(H, W, S)
        rig.prime(rgb, lr, "16UC1", 1_600_000_000.0, camera_infos(H, W, S, 1_600_000_000.0), timeout=60)
        stamps = [1_700_000_000.0 + i / 10 for i in range(N)]
        sent = rig.play([(rgb, "rgb8", lr, "16UC1", t, camera_infos(H, W, S, t)) for t in stamps], 10.0, pace_s=10.0)
        rig.wait_for(lambda: set(sent) <= set(rig.images) & set(rig.infos) & set(rig.clouds), 10)
        self.assertEqual(set(rig.images), set(sent))
        self.assertEqual(set(rig.infos), set(sent))
        self.assertEqual(set(rig.clouds), set(sent))
        rgb_info, _ = camera_infos(H, W, S, 0.0)
        # the node's pipeline, from the node's settings with the launch arguments given above
        settings = MonoParams(model=MODEL, backend=BACKEND, metric_mode="fit")
        pipeline = build_mono_pipeline(mono_spec_from_settings(settings))
        expected = pipeline.process(rgb, lr.astype(np.float32) / 1000).depth
        for k in sent:
            img = rig.images[k][1]
            self.assertEqual((img.encoding, img.height, img.width, img.header.frame_id), ("32FC1", H, W, FRAME))
            depth = np.frombuffer(img.data, np.float32).reshape(H, W)
            np.testing.assert_allclose(depth, expected, atol=1e-3)  # metres, fitted to the low-res depth
            info = rig.infos[k]
            self.assertEqual((info.height, info.width, info.header.frame_id), (H, W, FRAME))
            np.testing.assert_allclose(info.k, rgb_info.k)
            cloud = rig.clouds[k]
            self.assertEqual((cloud.height, cloud.width, cloud.is_dense), (H, W, False))
            z = np.frombuffer(cloud.data, np.float32).reshape(H, W, cloud.point_step // 4)[..., 2]
            np.testing.assert_array_equal(z, depth)


@launch_testing.post_shutdown_test()
class TestMonoLaunchShutdown(unittest.TestCase):
    def test_exit_codes(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)
