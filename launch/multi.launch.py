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

from depth_refine_ros.ros.launch_support import NOT_GIVEN, SR_PARAM_ARGS, describe_parameter, multi_node_setup
from depth_refine_ros.ros.params import SrParams
from launch import LaunchDescription

PACKAGE = "depth_refine_ros"



def launch_setup(context):
    """An sr_node (and with use_rviz an rviz2) per camera of cameras_file.

    launch_support.multi_node_setup reads the cameras file and the arguments; a bad cameras file or a
    missing rviz2 raises before anything starts.
    """
    actions = []
    for s in multi_node_setup(context, "sr_node", SR_PARAM_ARGS, SrParams):
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
             for n, p in SR_PARAM_ARGS]
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
