"""Launch sr_node (guided depth super-resolution) and, optionally, rviz2.

    ros2 launch depth_refine_ros sr.launch.py rgb_topic:=/camera/color/image_raw \
        rgb_info_topic:=/camera/color/camera_info \
        depth_topic:=/camera/aligned_depth_to_color/image_raw \
        depth_info_topic:=/camera/aligned_depth_to_color/camera_info

Every node started here uses the package's Fast DDS profile (32 MiB shared memory) unless
FASTDDS_DEFAULT_PROFILES_FILE is already set, so the 1 MB depth images and multi-MB clouds it
publishes are fast for any subscriber.
"""
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

PACKAGE = "depth_refine_ros"

# (name, default, description): topics are remappings of sr_node's relative topic names.
TOPIC_ARGS = [
    ("rgb_topic", "rgb/image", "RGB image topic (rgb8/bgr8/rgba8/bgra8/mono8)."),
    ("rgb_info_topic", "rgb/camera_info", "RGB camera_info topic (optional input)."),
    ("depth_topic", "depth_lr/image",
     "Low-res depth registered to the RGB camera (16UC1/mono16 mm or 32FC1 m)."),
    ("depth_info_topic", "depth_lr/camera_info", "camera_info of the low-res depth."),
    ("refined_depth_topic", "depth_refined/image", "Output: refined depth, 32FC1 metres."),
    ("refined_info_topic", "depth_refined/camera_info", "Output: camera_info of the refined depth."),
    ("points_topic", "depth_refined/points", "Output: organized PointCloud2."),
]
REMAP_OF = {
    "rgb_topic": "rgb/image", "rgb_info_topic": "rgb/camera_info",
    "depth_topic": "depth_lr/image", "depth_info_topic": "depth_lr/camera_info",
    "refined_depth_topic": "depth_refined/image", "refined_info_topic": "depth_refined/camera_info",
    "points_topic": "depth_refined/points",
}


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    args = [DeclareLaunchArgument(n, default_value=d, description=doc) for n, d, doc in TOPIC_ARGS]
    args += [
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution([share, "config", "sr.yaml"]),
                              description="sr_node parameter file (every parameter, documented)."),
        DeclareLaunchArgument("backend", default_value="classical",
                              description="Inference backend: classical, onnxruntime, torch or tensorrt."),
        DeclareLaunchArgument("model", default_value="",
                              description="SR model (installed name from `depth-refine models`, or a "
                                          "model directory) for the network backends."),
        DeclareLaunchArgument("depth_only_model", default_value="",
                              description="Depth-only SR model used while RGB is missing (empty: bicubic)."),
        DeclareLaunchArgument("device", default_value="cpu", description="Network device: cpu or cuda."),
        DeclareLaunchArgument("precision", default_value="fp32", description="Network precision: fp32 or fp16."),
        DeclareLaunchArgument("classical_method", default_value="bicubic",
                              description="Classical upsampler: bicubic, joint_bilateral, guided_filter, fgs."),
        DeclareLaunchArgument("registration", default_value="none",
                              description="Depth-to-RGB offset correction: none, fixed (registration.shift_*_px "
                                          "in the params file) or auto (tracked from RGB/depth edges)."),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace for sr_node."),
        DeclareLaunchArgument("use_rviz", default_value="true", description="Start rviz2 with the package's view."),
        DeclareLaunchArgument("rviz_config", default_value=PathJoinSubstitution([share, "rviz", "sr.rviz"]),
                              description="rviz2 configuration file."),
        DeclareLaunchArgument(
            "fastdds_profile",
            default_value=EnvironmentVariable(
                "FASTDDS_DEFAULT_PROFILES_FILE",
                default_value=PathJoinSubstitution([share, "config", "fastdds_profile.xml"])),
            description="Fast DDS XML profile for the nodes started here (default: the shipped "
                        "32 MiB shared-memory profile, unless FASTDDS_DEFAULT_PROFILES_FILE is set)."),
    ]
    sr_node = Node(
        package=PACKAGE,
        executable="sr_node",
        name="sr_node",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        parameters=[LaunchConfiguration("params_file"),
                    {"backend": LaunchConfiguration("backend"),
                     "classical.method": LaunchConfiguration("classical_method"),
                     "model": LaunchConfiguration("model"),
                     "depth_only.model": LaunchConfiguration("depth_only_model"),
                     "device": LaunchConfiguration("device"),
                     "precision": LaunchConfiguration("precision"),
                     "registration.mode": LaunchConfiguration("registration")}],
        remappings=[(REMAP_OF[n], LaunchConfiguration(n)) for n, _, _ in TOPIC_ARGS],
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        arguments=["-d", LaunchConfiguration("rviz_config")],
        condition=IfCondition(LaunchConfiguration("use_rviz")),
        output="screen",
    )
    return LaunchDescription(
        args + [SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", LaunchConfiguration("fastdds_profile")),
                sr_node, rviz])
