"""Launch one sr_node per camera, each in its own namespace, from one list of cameras (a YAML file).

    ros2 launch depth_refine_ros multi.launch.py cameras_file:=my_cameras.yaml \
        backend:=onnxruntime model:=sr_lite

The cameras file (the installed config/cameras.yaml is the example) lists per camera a name (its
namespace unless `namespace:` is given), the topics to remap (rgb, rgb_info, depth, depth_info, and the
outputs refined_depth, refined_info, points; an absent one keeps the node's relative name in the
camera's namespace) and optional `params` for that camera only. Camera `front` publishes
/front/depth_refined/image, /front/depth_refined/camera_info and /front/depth_refined/points.

Parameters: params_file applies to every node (keyed by the node's name it is made to apply in each
namespace); the backend/model/... arguments override it only when given; a camera's own `params` win
over both. With use_rviz:=true each camera gets an rviz2 showing its node's topics. The nodes use the
package's Fast DDS profile unless FASTDDS_DEFAULT_PROFILES_FILE is set.
"""
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from depth_refine_ros.ros.launch_support import NOT_GIVEN, describe_parameter, multi_node_setup
from depth_refine_ros.ros.params import SrParams
from launch import LaunchDescription

PACKAGE = "depth_refine_ros"

# (launch argument, sr_node parameter): given ones override the params file for every camera.
PARAM_ARGS = [
    ("backend", "backend"),
    ("model", "model"),
    ("depth_only_model", "depth_only.model"),
    ("device", "device"),
    ("precision", "precision"),
    ("classical_method", "classical.method"),
    # the filters (docs/nodes.md#filters-before-and-after-the-network). Before the network: the range clamp
    # of the input, the re-sampling of decimated depth, the depth-to-RGB registration
    ("depth_min_m", "depth.min_m"),
    ("depth_max_m", "depth.max_m"),
    ("depth_sampling", "depth.sampling"),
    ("registration", "registration.mode"),
    ("registration_shift_dy_px", "registration.shift_dy_px"),
    ("registration_shift_dx_px", "registration.shift_dx_px"),
    ("registration_every_n", "registration.every_n"),
    ("registration_window", "registration.window"),
    ("registration_max_shift_px", "registration.max_shift_px"),
    ("registration_min_shift_px", "registration.min_shift_px"),
    # the network itself: its self-ensemble
    ("flip_ensemble", "ensemble.flip"),
    # after it: the SDDR refinement, the range clamp of the output, the holes, the temporal filter
    ("refine_mode", "refine.mode"),
    ("keep_holes", "output.keep_holes"),
    ("temporal", "temporal.enable"),
    ("temporal_alpha", "temporal.alpha"),
    ("temporal_delta", "temporal.delta"),
    ("temporal_persistency", "temporal.persistency"),
]


def launch_setup(context):
    """An sr_node (and with use_rviz an rviz2) per camera of cameras_file.

    launch_support.multi_node_setup reads the cameras file and the arguments; a bad cameras file or a
    missing rviz2 raises before anything starts.
    """
    actions = []
    for s in multi_node_setup(context, "sr_node", PARAM_ARGS, SrParams):
        actions.append(Node(package=PACKAGE, executable="sr_node", name="sr_node", namespace=s.namespace,
                            parameters=s.parameters, remappings=s.remappings, output="screen", emulate_tty=True))
        actions += s.rviz
    return actions


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    args = [
        DeclareLaunchArgument("cameras_file", default_value=PathJoinSubstitution([share, "config", "cameras.yaml"]),
                              description="YAML list of cameras: per camera a name (its namespace), the topics "
                                          "to remap (rgb, rgb_info, depth, depth_info, refined_depth, "
                                          "refined_info, points) and optional params."),
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution([share, "config", "sr.yaml"]),
                              description="sr_node parameter file for every camera (every parameter, documented)."),
        DeclareLaunchArgument("namespace", default_value="",
                              description="Namespace put in front of every camera's namespace."),
        DeclareLaunchArgument("use_rviz", default_value="false",
                              description="Start an rviz2 per camera with the package's view of its sr_node."),
        DeclareLaunchArgument("rviz_config", default_value=PathJoinSubstitution([share, "rviz", "sr.rviz"]),
                              description="rviz2 configuration; its relative topic names are resolved for each "
                                          "camera's node."),
    ]
    args += [DeclareLaunchArgument(n, default_value=NOT_GIVEN, description=describe_parameter(SrParams, p))
             for n, p in PARAM_ARGS]
    args += [
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
