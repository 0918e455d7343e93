# Two commands do everything on a fresh machine:
#   make demo   - the main job: a real scene as a rosbag, replayed live through sr_node, with a report
#   make test   - the whole test suite
# Both create .venv (idempotent; a no-op the second time unless requirements/setup changed).
# ROS_DISTRO=jazzy on the command line (`make test ROS_DISTRO=jazzy`, any target) does the same with ROS 2
# Jazzy in .venv-jazzy (requirements-jazzy.txt, Python 3.12, no torch: test modules that import it are
# skipped). The ROS_DISTRO a sourced ROS 2 environment exports does not select it.

DISTRO  := $(if $(filter command line,$(origin ROS_DISTRO)),$(ROS_DISTRO),kilted)
VENV    := $(if $(filter kilted,$(DISTRO)),.venv,.venv-$(DISTRO))
REQS    := $(if $(filter kilted,$(DISTRO)),requirements.txt,requirements-$(DISTRO).txt)
$(if $(wildcard $(REQS)),,$(error ROS_DISTRO=$(DISTRO): no $(REQS) (kilted: requirements.txt, jazzy: requirements-jazzy.txt)))
# the Python each distribution's wheels are built for: Kilted 3.11 (python3 here), Jazzy 3.12
PYTHON_kilted = python3
PYTHON_jazzy  = $(shell python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null || \
	PYENV_VERSION=$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12' | tail -1) pyenv which python3.12 2>/dev/null)
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
MSG_STAMP := $(VENV)/.interfaces
PKG     := depth_refine_ros
SHARE   := $(VENV)/share/$(PKG)
SCRIPTS := sr_node sr_lifecycle_node mono_node depth-refine
# ros2launch does not follow directory links: link file by file, as colcon --symlink-install does.
SHARE_FILES := package.xml $(wildcard launch/*.launch.py) $(wildcard config/*.yaml) $(wildcard rviz/*.rviz)

.PHONY: setup demo test test-fast lint bench clean

setup: $(MSG_STAMP)

$(PY):
	@test -n "$(PYTHON_$(DISTRO))" || { echo "no Python for ROS 2 $(DISTRO)'s wheels (Jazzy: python3.12, or pyenv install 3.12)"; exit 1; }
	$(PYTHON_$(DISTRO)) -m venv $(VENV)

# Editable install of the package, then the ament layout a real `colcon build --symlink-install`
# would make, so `ros2 launch depth_refine_ros sr.launch.py` resolves share/ and lib/<pkg>/.
$(STAMP): $(REQS) requirements.txt setup.py setup.cfg training/pyproject.toml $(SHARE_FILES) | $(PY)
	$(PY) -m pip install -q --disable-pip-version-check -r $(REQS)
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e training
	mkdir -p $(VENV)/share/ament_index/resource_index/packages $(VENV)/lib/$(PKG)
	touch $(VENV)/share/ament_index/resource_index/packages/$(PKG)
	rm -rf $(SHARE) && mkdir -p $(SHARE)/launch $(SHARE)/config $(SHARE)/rviz
	for f in $(SHARE_FILES); do ln -sf $(CURDIR)/$$f $(SHARE)/$$f; done
	ln -sf $(CURDIR)/$(PKG)/resources/fastdds_profile.xml $(SHARE)/config/fastdds_profile.xml
	for s in $(SCRIPTS); do ln -sf ../../bin/$$s $(VENV)/lib/$(PKG)/$$s; done
	touch $@

# The package's message (msg/RefineStats.msg), generated with CMakeLists.txt against the venv's ROS 2
# wheels: type support libraries into .venv/lib, the Python module into depth_refine_ros/msg/ (git-ignored;
# the editable install imports from the source tree). Needs cmake and a C/C++ compiler.
$(MSG_STAMP): $(STAMP) $(wildcard msg/*.msg) CMakeLists.txt tools/build_interfaces.py tools/wheel_prefix_fixups.cmake \
		| $(VENV)/COLCON_IGNORE build/COLCON_IGNORE
	$(PY) tools/build_interfaces.py --build-dir build/msg$(if $(filter kilted,$(DISTRO)),,-$(DISTRO))
	touch $@

# colcon skips a directory holding COLCON_IGNORE. Without it, this checkout placed in a workspace's src/
# after `make setup` makes `colcon build` find the ROS 2 packages inside the venv and the message's CMake
# build in build/ (an ament_cmake_python setup.py) as packages of their own.
$(VENV)/COLCON_IGNORE: | $(PY)
	touch $@

build/COLCON_IGNORE:
	mkdir -p build && touch $@

demo: $(MSG_STAMP)
	$(VENV)/bin/depth-refine demo --out out/demo

# Jazzy: the tests that talk to ROS 2 over DDS (the rest is the same Python code on either distribution,
# linted once)
PYTEST_jazzy := -m ros
test: $(MSG_STAMP)
	$(if $(filter kilted,$(DISTRO)),$(VENV)/bin/ruff check .)
	$(PY) -m pytest -q $(PYTEST_$(DISTRO))

test-fast: $(MSG_STAMP)
	$(PY) -m pytest -q -m "unit"

lint: $(MSG_STAMP)
	$(VENV)/bin/ruff check .

bench: $(MSG_STAMP)
	$(VENV)/bin/depth-refine bench

clean:
	rm -rf $(VENV) out build install log $(PKG)/msg $(PKG)/$(PKG)_s__*.so
