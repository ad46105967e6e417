# install.find_package_consumer: does an installed courier work for a project
# that only knows find_package(courier CONFIG) and courier::courier?
#
# This file has two modes.
#   include()d from tests/CMakeLists.txt: registers the ctest, which runs
#     this same file in script mode (cmake -P).
#   cmake -P (the test itself): installs the current build into a fresh prefix
#     under the build tree, configures tests/consumer/ against that prefix with
#     the same compiler, build type and sanitizer flags, builds it, checks that
#     find_package found the installed copy, and runs the consumer.

if(NOT CMAKE_SCRIPT_MODE_FILE)
  # The consumer must be built like courier: a static courier_core compiled
  # with -fsanitize=... needs the sanitizer runtime at the consumer's link.
  set(_consumer_cxx_flags "${CMAKE_CXX_FLAGS}")
  set(_consumer_link_flags "${CMAKE_EXE_LINKER_FLAGS}")
  if(COURIER_SANITIZE)
    string(APPEND _consumer_cxx_flags " -fsanitize=${COURIER_SANITIZE} -fno-omit-frame-pointer -g")
    string(APPEND _consumer_link_flags " -fsanitize=${COURIER_SANITIZE}")
  endif()
  add_test(NAME install.find_package_consumer
    COMMAND ${CMAKE_COMMAND}
      "-DCOURIER_BUILD_DIR=${courier_BINARY_DIR}"
      "-DCONSUMER_SOURCE_DIR=${CMAKE_CURRENT_LIST_DIR}"
      "-DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/consumer-test"
      "-DCONFIG=$<CONFIG>"
      "-DGENERATOR=${CMAKE_GENERATOR}"
      "-DMAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}"
      "-DCXX_COMPILER=${CMAKE_CXX_COMPILER}"
      "-DCXX_FLAGS=${_consumer_cxx_flags}"
      "-DLINK_FLAGS=${_consumer_link_flags}"
      -P "${CMAKE_CURRENT_LIST_FILE}")
  set_tests_properties(install.find_package_consumer PROPERTIES LABELS "install" TIMEOUT 300)
  unset(_consumer_cxx_flags)
  unset(_consumer_link_flags)
  return()
endif()

# ---------------------------------------------------------------- script mode
cmake_minimum_required(VERSION 3.20)
foreach(v COURIER_BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
    message(FATAL_ERROR "consumer_test: ${v} is not set (run through ctest)")
  endif()
endforeach()

set(prefix "${WORK_DIR}/prefix")
set(build "${WORK_DIR}/build")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

set(config_args)
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()

function(step what)
  message(STATUS "consumer_test: ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer_test: ${what} failed (${rc})")
  endif()
endfunction()

step("install ${COURIER_BUILD_DIR} into ${prefix}"
  "${CMAKE_COMMAND}" --install "${COURIER_BUILD_DIR}" --prefix "${prefix}" ${config_args})

set(configure "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${build}" -G "${GENERATOR}"
  "-DCMAKE_PREFIX_PATH=${prefix}"
  "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
  "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
  "-DCMAKE_EXE_LINKER_FLAGS=${LINK_FLAGS}"
  -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
if(MAKE_PROGRAM)
  list(APPEND configure "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(CONFIG)
  list(APPEND configure "-DCMAKE_BUILD_TYPE=${CONFIG}")
endif()
step("configure the consumer against ${prefix}" ${configure})

# find_package must have found the copy just installed, not another one.
file(STRINGS "${build}/CMakeCache.txt" found REGEX "^courier_DIR:")
string(REGEX REPLACE "^courier_DIR:[A-Z]+=" "" found "${found}")
file(REAL_PATH "${prefix}" real_prefix)
if(EXISTS "${found}")
  file(REAL_PATH "${found}" found)
endif()
string(FIND "${found}" "${real_prefix}/" at)
if(NOT at EQUAL 0)
  message(FATAL_ERROR "consumer_test: find_package(courier) found '${found}', not the install in ${prefix}")
endif()
message(STATUS "consumer_test: courier_DIR = ${found}")

step("build the consumer" "${CMAKE_COMMAND}" --build "${build}" ${config_args})

set(exe "${build}/consumer")
if(NOT EXISTS "${exe}" AND CONFIG)
  set(exe "${build}/${CONFIG}/consumer")
endif()
step("run the consumer" "${exe}")
message(STATUS "consumer_test: passed")
