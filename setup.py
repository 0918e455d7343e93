"""Package definition for depth_refine_ros (ament_python for colcon; plain pip for the venv)."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "depth_refine_ros"

# Console scripts: single source of truth; the launch-file test checks every executable a launch
# file names against this list.
CONSOLE_SCRIPTS = [
    "sr_node = depth_refine_ros.ros.sr_node:main",
    "sr_lifecycle_node = depth_refine_ros.ros.sr_lifecycle_node:main",
    "mono_node = depth_refine_ros.ros.mono_node:main",
    "depth-refine = depth_refine_ros.cli.main:main",
]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, PACKAGE + ".*"]),
    package_data={PACKAGE: ["resources/*.xml", "model_zoo/*/*.yaml", "model_zoo/*/*.onnx",
                            "model_zoo/*/*.safetensors"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        ("share/" + PACKAGE + "/launch", glob("launch/*.launch.py")),
        ("share/" + PACKAGE + "/config", glob("config/*.yaml") + ["depth_refine_ros/resources/fastdds_profile.xml"]),
        ("share/" + PACKAGE + "/rviz", glob("rviz/*.rviz")),
    ],
    install_requires=["setuptools", "numpy", "pyyaml"],
    zip_safe=False,  # model files are read from the package directory
    maintainer="depth_refine_ros maintainers",
    maintainer_email="maintainers@depth-refine-ros.invalid",
    description="Guided depth super-resolution for ROS 2",
    license="Apache-2.0",
    extras_require={"test": ["pytest"]},
    entry_points={"console_scripts": CONSOLE_SCRIPTS},
)
