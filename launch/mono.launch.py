"""Launch mono_node (monocular depth, relative or metric by a per-frame fit) and, optionally, rviz2.

    ros2 launch depth_refine_ros mono.launch.py model:=mono_resnet18 metric_mode:=fit \
        rgb_topic:=/camera/color/image_raw rgb_info_topic:=/camera/color/camera_info \
        depth_topic:=/camera/aligned_depth_to_color/image_raw

Every node started here uses the package's Fast DDS profile unless FASTDDS_DEFAULT_PROFILES_FILE is set.
"""
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

PACKAGE = "depth_refine_ros"

# (name, default, description): topics are remappings of mono_node's relative topic names.
TOPIC_ARGS = [
    ("rgb_topic", "rgb/image", "RGB image topic (rgb8/bgr8/rgba8/bgra8/mono8)."),
    ("rgb_info_topic", "rgb/camera_info", "RGB camera_info (for the cloud and output camera_info)."),
    ("depth_topic", "depth_lr/image",
     "Low-res or sparse depth registered to RGB, for metric_mode fit (16UC1 mm or 32FC1 m)."),
    ("mono_depth_topic", "depth_mono/image", "Output: depth, 32FC1 (metres with fit, relative otherwise)."),
    ("mono_info_topic", "depth_mono/camera_info", "Output: camera_info of the depth."),
    ("mono_points_topic", "depth_mono/points", "Output: organized PointCloud2."),
]
REMAP_OF = {
    "rgb_topic": "rgb/image", "rgb_info_topic": "rgb/camera_info", "depth_topic": "depth_lr/image",
    "mono_depth_topic": "depth_mono/image", "mono_info_topic": "depth_mono/camera_info",
    "mono_points_topic": "depth_mono/points",
}


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    args = [DeclareLaunchArgument(n, default_value=d, description=doc) for n, d, doc in TOPIC_ARGS]
    args += [
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution([share, "config", "mono.yaml"]),
                              description="mono_node parameter file (every parameter, documented)."),
        DeclareLaunchArgument("model", description="Monocular model: installed name (`depth-refine models`) "
                                                   "or a model directory."),
        DeclareLaunchArgument("backend", default_value="onnxruntime",
                              description="Inference backend: onnxruntime, torch or tensorrt."),
        DeclareLaunchArgument("device", default_value="cpu", description="Network device: cpu or cuda."),
        DeclareLaunchArgument("metric_mode", default_value="relative",
                              description="relative, or fit (scale/shift fit to depth_topic per frame)."),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace for mono_node."),
        DeclareLaunchArgument("use_rviz", default_value="true", description="Start rviz2 with the package's view."),
        DeclareLaunchArgument("rviz_config", default_value=PathJoinSubstitution([share, "rviz", "sr.rviz"]),
                              description="rviz2 configuration file."),
        DeclareLaunchArgument(
            "fastdds_profile",
            default_value=EnvironmentVariable(
                "FASTDDS_DEFAULT_PROFILES_FILE",
                default_value=PathJoinSubstitution([share, "config", "fastdds_profile.xml"])),
            description="Fast DDS XML profile for the nodes started here."),
    ]
    mono_node = Node(
        package=PACKAGE,
        executable="mono_node",
        name="mono_node",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        parameters=[LaunchConfiguration("params_file"),
                    {"model": LaunchConfiguration("model"), "backend": LaunchConfiguration("backend"),
                     "device": LaunchConfiguration("device"), "metric.mode": LaunchConfiguration("metric_mode")}],
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
                mono_node, rviz])
