# The package tests (issue 16): courier used from outside its tree the ways
# docs/building.md tells users to, each a ctest:
#   package.build_tree_consumer   tests/consumer configured with
#                                 -Dcourier_DIR=<this build tree> (export())
#   package.add_subdirectory_consumer  tests/consumer_subdir: a parent project
#                                 with add_subdirectory(courier); its cache has
#                                 no CMAKE_BUILD_TYPE forced, its `all` builds
#                                 no CLI and no tests, its install installs
#                                 nothing of courier's; and a second configure
#                                 that asks for the CLI and install rules gets them
#   package.pkg_config_consumer   tests/consumer/main.cpp compiled with
#                                 `pkg-config --cflags --libs courier` against a
#                                 `cmake --install --prefix` of this build tree
#   package.deb                   tests/package_deb_test.cmake: cpack -G DEB,
#                                 installed (dpkg -i, as root) or unpacked (dpkg -x)
#   package.bash_completion       tests/package_completion_test.sh
#   install.find_package_consumer tests/consumer configured against a
#                                 `cmake --install --prefix` of this build tree
#                                 (-DCMAKE_PREFIX_PATH); courier_DIR must be there
#
# This file has two modes: include()d from tests/CMakeLists.txt it registers
# the tests, which run it with cmake -P -DMODE=<the test>.

if(NOT CMAKE_SCRIPT_MODE_FILE)
  # The consumers are built like courier: a static courier_core compiled with
  # -fsanitize=... needs the sanitizer runtime at the consumer's link.
  set(_package_cxx_flags "${CMAKE_CXX_FLAGS}")
  set(_package_link_flags "${CMAKE_EXE_LINKER_FLAGS}")
  if(COURIER_SANITIZE)
    string(APPEND _package_cxx_flags " -fsanitize=${COURIER_SANITIZE} -fno-omit-frame-pointer -g")
    string(APPEND _package_link_flags " -fsanitize=${COURIER_SANITIZE}")
  endif()
  function(courier_package_test name mode labels timeout)
    add_test(NAME ${name}
      COMMAND ${CMAKE_COMMAND}
        "-DMODE=${mode}"
        "-DCOURIER_BUILD_DIR=${courier_BINARY_DIR}"
        "-DCOURIER_SOURCE_DIR=${courier_SOURCE_DIR}"
        "-DCOURIER_VERSION=${courier_VERSION}"
        "-DTESTS_DIR=${CMAKE_CURRENT_LIST_DIR}"
        "-DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/package-test/${mode}"
        "-DCONFIG=$<CONFIG>"
        "-DGENERATOR=${CMAKE_GENERATOR}"
        "-DMAKE_PROGRAM=${CMAKE_MAKE_PROGRAM}"
        "-DCXX_COMPILER=${CMAKE_CXX_COMPILER}"
        "-DCXX_FLAGS=${_package_cxx_flags}"
        "-DLINK_FLAGS=${_package_link_flags}"
        -P "${CMAKE_CURRENT_LIST_FILE}")
    set_tests_properties(${name} PROPERTIES LABELS "${labels}" TIMEOUT ${timeout})
  endfunction()
  courier_package_test(install.find_package_consumer install "install" 300)
  courier_package_test(package.build_tree_consumer build_tree "install" 600)
  courier_package_test(package.pkg_config_consumer pkg_config "install" 600)
  # These two check the build's layout, not its code: not repeated in a
  # sanitizer build (the first compiles courier once more; the second would
  # install a sanitized library system-wide).
  if(NOT COURIER_SANITIZE)
    courier_package_test(package.add_subdirectory_consumer subdirectory "install" 3600)
    # serial: installs a package system-wide when run as root.
    courier_package_test(package.deb deb "install;serial" 1800)
  endif()
  add_test(NAME package.bash_completion
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/package_completion_test.sh $<TARGET_FILE:courier_cli>
      ${courier_SOURCE_DIR}/packaging/bash-completion/courier)
  set_tests_properties(package.bash_completion PROPERTIES LABELS "install;cli" TIMEOUT 300)
  unset(_package_cxx_flags)
  unset(_package_link_flags)
  return()
endif()

# ---------------------------------------------------------------- script mode
cmake_minimum_required(VERSION 3.20)
foreach(v MODE COURIER_BUILD_DIR COURIER_SOURCE_DIR COURIER_VERSION TESTS_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
    message(FATAL_ERROR "package_test: ${v} is not set (run through ctest)")
  endif()
endforeach()
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(config_args)
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()

# Runs a command; a failure ends the test (package_fail).
function(step what)
  message(STATUS "package_test: ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    package_fail("${what} failed (${rc})")
  endif()
endfunction()

# Runs a command and returns its stdout (stripped) in out_var.
function(capture out_var what)
  message(STATUS "package_test: ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    package_fail("${what} failed (${rc}): ${out}")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

# The deb test redefines this to remove the package before failing.
macro(package_fail why)
  message(FATAL_ERROR "package_test (${MODE}): ${why}")
endmacro()

# Configures and builds the CMake project in src into build, with courier's
# compiler and flags; ARGN: more configure arguments.
function(build_project src build)
  set(configure "${CMAKE_COMMAND}" -S "${src}" -B "${build}" -G "${GENERATOR}"
    "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
    "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
    "-DCMAKE_EXE_LINKER_FLAGS=${LINK_FLAGS}"
    -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON ${ARGN})
  if(MAKE_PROGRAM)
    list(APPEND configure "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
  endif()
  step("configure ${src} in ${build}" ${configure})
  # Two jobs: the machines this runs on are shared (and ctest may run tests beside it).
  step("build ${build}" "${CMAKE_COMMAND}" --build "${build}" --parallel 2 ${config_args})
endfunction()

# Fails unless the cache of build has var set to a path inside dir.
function(expect_cached_path build var dir)
  file(STRINGS "${build}/CMakeCache.txt" found REGEX "^${var}:")
  string(REGEX REPLACE "^${var}:[A-Z]+=" "" found "${found}")
  if(EXISTS "${found}")
    file(REAL_PATH "${found}" found)
  endif()
  file(REAL_PATH "${dir}" real_dir)
  if(NOT found STREQUAL real_dir AND NOT found MATCHES "^${real_dir}/")
    package_fail("${var} is '${found}', not in ${real_dir}")
  endif()
  message(STATUS "package_test: ${var} = ${found}")
endfunction()

# Runs the consumer built in build (it checks version.hpp against ours).
function(run_consumer exe)
  if(NOT EXISTS "${exe}" AND CONFIG)
    get_filename_component(d "${exe}" DIRECTORY)
    get_filename_component(n "${exe}" NAME)
    set(exe "${d}/${CONFIG}/${n}")
  endif()
  step("run ${exe}" "${exe}" "${COURIER_VERSION}")
endfunction()

# The consumer compiled by hand with pkg-config's flags; env: the environment
# for pkg-config (PKG_CONFIG_PATH=..., PKG_CONFIG_SYSROOT_DIR=...); the flags
# must name include_dir (but for /usr/include, which pkg-config leaves out).
function(pkg_config_consumer env include_dir out_dir)
  find_program(PKG_CONFIG pkg-config)
  if(NOT PKG_CONFIG)
    package_fail("pkg-config not found (Debian: pkg-config)")
  endif()
  capture(flags "pkg-config --cflags --libs courier" "${CMAKE_COMMAND}" -E env ${env} "${PKG_CONFIG}" --cflags
    --libs courier)
  message(STATUS "package_test: pkg-config says: ${flags}")
  set(wants "-lcourier_core" "-pthread" "-lrt")
  if(NOT include_dir STREQUAL "/usr/include")
    list(APPEND wants "-I${include_dir}")
  endif()
  foreach(want IN LISTS wants)
    string(FIND " ${flags} " " ${want} " at)
    if(at EQUAL -1)
      package_fail("pkg-config --cflags --libs courier lacks ${want}: ${flags}")
    endif()
  endforeach()
  if(flags MATCHES "-std=")
    package_fail("pkg-config --cflags courier sets the language standard: ${flags}")
  endif()
  separate_arguments(flags UNIX_COMMAND "${flags}")
  separate_arguments(cxx_flags UNIX_COMMAND "${CXX_FLAGS}")
  separate_arguments(link_flags UNIX_COMMAND "${LINK_FLAGS}")
  file(MAKE_DIRECTORY "${out_dir}")
  step("compile the consumer with pkg-config's flags" "${CXX_COMPILER}" -std=c++20 ${cxx_flags}
    "${TESTS_DIR}/consumer/main.cpp" -o "${out_dir}/consumer" ${flags} ${link_flags})
  run_consumer("${out_dir}/consumer")
endfunction()

if(MODE STREQUAL "install")
  set(prefix "${WORK_DIR}/prefix")
  step("install ${COURIER_BUILD_DIR} into ${prefix}" "${CMAKE_COMMAND}" --install "${COURIER_BUILD_DIR}"
    --prefix "${prefix}" ${config_args})
  build_project("${TESTS_DIR}/consumer" "${WORK_DIR}/build" "-DCMAKE_PREFIX_PATH=${prefix}"
    "-DCMAKE_BUILD_TYPE=${CONFIG}")
  expect_cached_path("${WORK_DIR}/build" courier_DIR "${prefix}")
  run_consumer("${WORK_DIR}/build/consumer")

elseif(MODE STREQUAL "build_tree")
  build_project("${TESTS_DIR}/consumer" "${WORK_DIR}/build" "-Dcourier_DIR=${COURIER_BUILD_DIR}"
    "-DCMAKE_BUILD_TYPE=${CONFIG}")
  expect_cached_path("${WORK_DIR}/build" courier_DIR "${COURIER_BUILD_DIR}")
  run_consumer("${WORK_DIR}/build/consumer")

elseif(MODE STREQUAL "subdirectory")
  # No CMAKE_BUILD_TYPE given: courier must not set one in the parent's cache.
  set(build "${WORK_DIR}/build")
  build_project("${TESTS_DIR}/consumer_subdir" "${build}" "-DCOURIER_SOURCE_DIR=${COURIER_SOURCE_DIR}")
  file(STRINGS "${build}/CMakeCache.txt" build_type REGEX "^CMAKE_BUILD_TYPE:")
  if(build_type MATCHES "=.")
    package_fail("the parent's cache says ${build_type}: courier forced a build type")
  endif()
  if(EXISTS "${build}/courier/courier" OR EXISTS "${build}/courier/tests" OR EXISTS "${build}/courier/bench"
     OR EXISTS "${build}/courier/examples")
    package_fail("the parent's all built courier's CLI, tests, benchmarks or examples (in ${build}/courier)")
  endif()
  if(EXISTS "${build}/courier/CPackConfig.cmake" OR EXISTS "${build}/CPackConfig.cmake")
    package_fail("courier set up CPack in the parent")
  endif()
  step("install the parent" "${CMAKE_COMMAND}" --install "${build}" --prefix "${WORK_DIR}/prefix" ${config_args})
  file(GLOB_RECURSE installed LIST_DIRECTORIES false "${WORK_DIR}/prefix/*")
  if(installed)
    package_fail("the parent's install installed courier's files: ${installed}")
  endif()
  run_consumer("${build}/consumer")
  # Asked for, the CLI and the install rules are there (configure only).
  set(build "${WORK_DIR}/build-asked")
  step("configure the parent asking for the CLI and install rules" "${CMAKE_COMMAND}" -S "${TESTS_DIR}/consumer_subdir"
    -B "${build}" -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCOURIER_SOURCE_DIR=${COURIER_SOURCE_DIR}"
    -DCOURIER_BUILD_CLI=ON -DCOURIER_INSTALL=ON)
  file(READ "${build}/courier/cmake_install.cmake" rules)
  foreach(want "libcourier_core.a" "bin\" TYPE EXECUTABLE" "courierTargets.cmake" "courier.pc")
    string(FIND "${rules}" "${want}" at)
    if(at EQUAL -1)
      package_fail("with COURIER_BUILD_CLI and COURIER_INSTALL, courier's install rules lack ${want}")
    endif()
  endforeach()

elseif(MODE STREQUAL "pkg_config")
  set(prefix "${WORK_DIR}/prefix")
  step("install ${COURIER_BUILD_DIR} into ${prefix}" "${CMAKE_COMMAND}" --install "${COURIER_BUILD_DIR}"
    --prefix "${prefix}" ${config_args})
  file(GLOB_RECURSE pc "${prefix}/*/pkgconfig/courier.pc")
  if(NOT pc)
    package_fail("no pkgconfig/courier.pc under ${prefix}")
  endif()
  get_filename_component(pc_dir "${pc}" DIRECTORY)
  pkg_config_consumer("PKG_CONFIG_PATH=${pc_dir}" "${prefix}/include" "${WORK_DIR}/build")

elseif(MODE STREQUAL "deb")
  include("${TESTS_DIR}/package_deb_test.cmake")

else()
  message(FATAL_ERROR "package_test: unknown MODE '${MODE}'")
endif()
message(STATUS "package_test (${MODE}): passed")
