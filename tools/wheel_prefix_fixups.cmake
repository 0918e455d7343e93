# Loaded by tools/build_interfaces.py (CMAKE_PROJECT_INCLUDE) when CMakeLists.txt builds the message
# against the ROS 2 wheels of the venv; a ROS 2 install does not need it.
#
# The wheels export their rosidl_generator_py targets with the include directories of the machine
# that built them (/opt/python/cp311-cp311/include/python3.11 and its numpy), which do not exist
# here, and CMake refuses to generate with a missing include directory. The package's own targets
# get the right ones from find_package(Python3 ... Development NumPy), so the missing ones are
# dropped, at the end of the configuration (when every imported target is known).
function(_depth_refine_drop_missing_includes)
  get_directory_property(targets DIRECTORY "${CMAKE_SOURCE_DIR}" IMPORTED_TARGETS)
  foreach(target IN LISTS targets)
    get_target_property(dirs ${target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT dirs)
      continue()
    endif()
    set(kept "")
    foreach(dir IN LISTS dirs)
      if(dir MATCHES "^\\$<" OR EXISTS "${dir}")
        list(APPEND kept "${dir}")
      else()
        message(STATUS "${target}: dropping the wheel's missing include directory ${dir}")
      endif()
    endforeach()
    set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${kept}")
  endforeach()
endfunction()
cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _depth_refine_drop_missing_includes)
