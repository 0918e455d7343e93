"""Launch mono_node (monocular depth, relative or metric by a per-frame fit) and, with use_rviz:=true, rviz2.

    ros2 launch depth_refine_ros mono.launch.py model:=mono_small metric_mode:=fit \
        rgb_topic:=/camera/color/image_raw rgb_info_topic:=/camera/color/camera_info \
        depth_topic:=/camera/aligned_depth_to_color/image_raw

Parameters come from params_file; the model/backend/... arguments override it only when given
(their default, '', means "as in the params file"). rviz2 (rviz/mono.rviz) shows the node's topics
through the namespace and remappings given here; when it is asked for but not installed, the launch
stops before starting anything.

Every node started here uses the package's Fast DDS profile unless FASTDDS_DEFAULT_PROFILES_FILE is set.
"""
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from depth_refine_ros.ros.launch_support import NOT_GIVEN, describe_parameter, node_setup
from depth_refine_ros.ros.params import MonoParams
from launch import LaunchDescription

PACKAGE = "depth_refine_ros"

# launch argument -> the mono_node topic it remaps (also its default: the node's own name)
REMAP_OF = {
    "rgb_topic": "rgb/image",
    "rgb_info_topic": "rgb/camera_info",
    "depth_topic": "depth_lr/image",
    "mono_depth_topic": "depth_mono/image",
    "mono_info_topic": "depth_mono/camera_info",
    "mono_points_topic": "depth_mono/points",
}
# (launch argument, description) of each topic argument
TOPIC_ARGS = [
    ("rgb_topic", "RGB image topic (rgb8/bgr8/rgba8/bgra8/mono8)."),
    ("rgb_info_topic", "RGB camera_info (for the cloud and output camera_info)."),
    ("depth_topic", "Low-res or sparse depth registered to RGB, for metric_mode fit (16UC1 mm or 32FC1 m)."),
    ("mono_depth_topic", "Output: depth, 32FC1 (metres with fit, relative otherwise)."),
    ("mono_info_topic", "Output: camera_info of the depth."),
    ("mono_points_topic", "Output: organized PointCloud2."),
]
# (launch argument, mono_node parameter): given ones override the params file, others leave it be.
PARAM_ARGS = [
    ("model", "model"),
    ("backend", "backend"),
    ("device", "device"),
    ("metric_mode", "metric.mode"),
]


def launch_setup(context):
    """mono_node, and rviz2 showing its topics with use_rviz.

    launch_support.node_setup reads the arguments: the params file, the given overrides, namespace and
    remappings; a missing rviz2 raises before anything starts.
    """
    s = node_setup(context, "mono_node", REMAP_OF, PARAM_ARGS)
    node = Node(package=PACKAGE, executable="mono_node", name="mono_node", namespace=s.namespace,
                parameters=s.parameters, remappings=s.remappings, output="screen", emulate_tty=True)
    return [node, *s.rviz]


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    args = [DeclareLaunchArgument(n, default_value=REMAP_OF[n], description=doc) for n, doc in TOPIC_ARGS]
    args += [DeclareLaunchArgument(n, default_value=NOT_GIVEN, description=describe_parameter(MonoParams, p))
             for n, p in PARAM_ARGS]
    args += [
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution([share, "config", "mono.yaml"]),
                              description="mono_node parameter file (every parameter, documented)."),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace for mono_node (and rviz2)."),
        DeclareLaunchArgument("use_rviz", default_value="false",
                              description="Start rviz2 with the package's view of mono_node's topics."),
        DeclareLaunchArgument("rviz_config", default_value=PathJoinSubstitution([share, "rviz", "mono.rviz"]),
                              description="rviz2 configuration; its relative topic names are resolved through "
                                          "the namespace and remappings given here."),
        DeclareLaunchArgument(
            "fastdds_profile",
            default_value=EnvironmentVariable(
                "FASTDDS_DEFAULT_PROFILES_FILE",
                default_value=PathJoinSubstitution([share, "config", "fastdds_profile.xml"])),
            description="Fast DDS XML profile for the nodes started here."),
    ]
    return LaunchDescription(
        args + [SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", LaunchConfiguration("fastdds_profile")),
                OpaqueFunction(function=launch_setup)])
