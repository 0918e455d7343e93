"""Launch sr_node (guided depth super-resolution) and, with use_rviz:=true, rviz2; with lifecycle:=true,
its managed variant sr_lifecycle_node (same name and topics; drive it with `ros2 lifecycle set`).

    ros2 launch depth_refine_ros sr.launch.py rgb_topic:=/camera/color/image_raw \
        rgb_info_topic:=/camera/color/camera_info \
        depth_topic:=/camera/aligned_depth_to_color/image_raw \
        depth_info_topic:=/camera/aligned_depth_to_color/camera_info

Parameters come from params_file; the backend/model/... arguments override it only when given
(their default, '', means "as in the params file"). rviz2 shows the node's topics through the
namespace and remappings given here (its config is written at launch time with resolved names);
when rviz2 is asked for but not installed, the launch stops before starting anything.

Every node started here uses the package's Fast DDS profile (32 MiB shared memory) unless
FASTDDS_DEFAULT_PROFILES_FILE is already set, so the 1 MB depth images and multi-MB clouds it
publishes are fast for any subscriber.
"""
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.substitutions import FindPackageShare

from depth_refine_ros.ros.launch_support import NOT_GIVEN, SR_PARAM_ARGS, describe_parameter, node_setup
from depth_refine_ros.ros.params import SrParams
from launch import LaunchDescription

PACKAGE = "depth_refine_ros"

# launch argument -> the sr_node topic it remaps (also its default: the node's own name)
REMAP_OF = {
    "rgb_topic": "rgb/image",
    "rgb_info_topic": "rgb/camera_info",
    "depth_topic": "depth_lr/image",
    "depth_info_topic": "depth_lr/camera_info",
    "refined_depth_topic": "depth_refined/image",
    "refined_info_topic": "depth_refined/camera_info",
    "points_topic": "depth_refined/points",
}
# (launch argument, description) of each topic argument
TOPIC_ARGS = [
    ("rgb_topic", "RGB image topic (rgb8/bgr8/rgba8/bgra8/mono8)."),
    ("rgb_info_topic", "RGB camera_info topic (optional input)."),
    ("depth_topic", "Low-res depth registered to the RGB camera (16UC1/mono16 mm or 32FC1 m)."),
    ("depth_info_topic", "camera_info of the low-res depth."),
    ("refined_depth_topic", "Output: refined depth, 32FC1 metres."),
    ("refined_info_topic", "Output: camera_info of the refined depth."),
    ("points_topic", "Output: organized PointCloud2."),
]


def launch_setup(context):
    """sr_node, and rviz2 showing its topics with use_rviz.

    launch_support.node_setup reads the arguments: the params file, the given overrides, namespace and
    remappings; a missing rviz2 raises before anything starts.
    """
    s = node_setup(context, "sr_node", REMAP_OF, SR_PARAM_ARGS)
    if LaunchConfiguration("lifecycle").perform(context).lower() in ("true", "1", "yes"):
        # the managed variant: starts unconfigured; `ros2 lifecycle set <ns>/sr_node configure` etc.
        node = LifecycleNode(package=PACKAGE, executable="sr_lifecycle_node", name="sr_node",
                             namespace=s.namespace, parameters=s.parameters, remappings=s.remappings,
                             output="screen", emulate_tty=True)
    else:
        node = Node(package=PACKAGE, executable="sr_node", name="sr_node", namespace=s.namespace,
                    parameters=s.parameters, remappings=s.remappings, output="screen", emulate_tty=True)
    return [node, *s.rviz]


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    args = [DeclareLaunchArgument(n, default_value=REMAP_OF[n], description=doc) for n, doc in TOPIC_ARGS]
    args += [DeclareLaunchArgument(n, default_value=NOT_GIVEN, description=describe_parameter(SrParams, p))
             for n, p in SR_PARAM_ARGS]
    args += [
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution([share, "config", "sr.yaml"]),
                              description="sr_node parameter file (every parameter, documented)."),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace for sr_node (and rviz2)."),
        DeclareLaunchArgument("lifecycle", default_value="false",
                              description="Start the managed (lifecycle) variant sr_lifecycle_node instead of "
                                          "sr_node: it waits unconfigured for `ros2 lifecycle set`."),
        DeclareLaunchArgument("use_rviz", default_value="false",
                              description="Start rviz2 with the package's view of sr_node's topics."),
        DeclareLaunchArgument("rviz_config", default_value=PathJoinSubstitution([share, "rviz", "sr.rviz"]),
                              description="rviz2 configuration; its relative topic names are resolved through "
                                          "the namespace and remappings given here."),
        DeclareLaunchArgument(
            "fastdds_profile",
            default_value=EnvironmentVariable(
                "FASTDDS_DEFAULT_PROFILES_FILE",
                default_value=PathJoinSubstitution([share, "config", "fastdds_profile.xml"])),
            description="Fast DDS XML profile for the nodes started here (default: the shipped "
                        "32 MiB shared-memory profile, unless FASTDDS_DEFAULT_PROFILES_FILE is set)."),
    ]
    return LaunchDescription(
        args + [SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", LaunchConfiguration("fastdds_profile")),
                OpaqueFunction(function=launch_setup)])
