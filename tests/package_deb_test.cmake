# package.deb (included by tests/package_test.cmake in script mode, MODE=deb):
# makes the .deb with cpack -G DEB from this build tree and checks what it holds.
#   As root: installs it (dpkg -i), builds tests/consumer against /usr with
#   find_package and with pkg-config and runs both, runs /usr/bin/courier
#   --version, finds the man page with man -w and checks its sections, then removes the package
#   (dpkg -r, also when a check failed). Refused when a courier not from this
#   package is in /usr already (it would be overwritten, then removed).
#   Otherwise: unpacks it (dpkg -x) into a directory and does the same checks
#   there (pkg-config with PKG_CONFIG_SYSROOT_DIR, find_package with
#   CMAKE_PREFIX_PATH, man -w -M). COURIER_PACKAGE_TEST_UNPACK=1 in the
#   environment chooses this way as root too.
set(package courier-bus)

step("cpack -G DEB" "${CMAKE_COMMAND}" -E chdir "${COURIER_BUILD_DIR}"
  cpack -G DEB -B "${WORK_DIR}/cpack" --config "${COURIER_BUILD_DIR}/CPackConfig.cmake")
file(GLOB deb "${WORK_DIR}/cpack/${package}_${COURIER_VERSION}_*.deb")
if(NOT deb)
  package_fail("cpack made no ${package}_${COURIER_VERSION}_*.deb in ${WORK_DIR}/cpack")
endif()
message(STATUS "package_test: ${deb}")

# What it holds: the paths of its files, without the leading '.'.
capture(listing "dpkg-deb -c" dpkg-deb -c "${deb}")
string(REGEX MATCHALL "\\./usr/[^\n ]*" files "${listing}")
string(REPLACE "./usr/" "/usr/" files "${files}")
foreach(want "^/usr/include/courier/bus\\.hpp$" "^/usr/include/courier/version\\.hpp$"
        "^/usr/include/courier/detail/layout\\.hpp$" "^/usr/lib/(.*/)?libcourier_core\\.a$"
        "^/usr/lib/(.*/)?cmake/courier/courierConfig\\.cmake$" "^/usr/lib/(.*/)?cmake/courier/courierTargets\\.cmake$"
        "^/usr/lib/(.*/)?cmake/courier/courierConfigVersion\\.cmake$" "^/usr/lib/(.*/)?pkgconfig/courier\\.pc$"
        "^/usr/bin/courier$" "^/usr/share/man/man1/courier\\.1\\.gz$"
        "^/usr/share/bash-completion/completions/courier$")
  set(hit)
  foreach(f IN LISTS files)
    if(f MATCHES "${want}")
      set(hit "${f}")
    endif()
  endforeach()
  if(NOT hit)
    package_fail("the .deb holds no file matching ${want}")
  endif()
endforeach()
foreach(f IN LISTS files)
  if(f MATCHES "^/usr/include/[^/]+\\.hpp$" OR f MATCHES "^/usr/include/courier/(bus_state|layout|lane_writer)\\.hpp$")
    package_fail("the .deb installs headers flat: ${f}")
  endif()
  if(f MATCHES "/pkgconfig/courier\\.pc$")
    set(pc_path "${f}")
  endif()
endforeach()
get_filename_component(pc_dir "${pc_path}" DIRECTORY)

execute_process(COMMAND id -u OUTPUT_VARIABLE uid OUTPUT_STRIP_TRAILING_WHITESPACE)
set(install_it OFF)
if(uid STREQUAL "0" AND NOT "$ENV{COURIER_PACKAGE_TEST_UNPACK}" STREQUAL "1")
  set(install_it ON)
endif()
if(install_it)
  set(root "")
  # A courier in /usr from elsewhere would be overwritten by dpkg -i, then removed by dpkg -r.
  execute_process(COMMAND dpkg-query -W -f=\${Status} ${package} OUTPUT_VARIABLE status ERROR_QUIET)
  if(status MATCHES "installed" AND NOT status MATCHES "not-installed")
    package_fail("${package} is installed already (dpkg -r ${package} first, if it is a leftover of this test)")
  endif()
  foreach(f /usr/bin/courier /usr/include/courier/bus.hpp)
    if(EXISTS "${f}")
      package_fail("${f} exists and is not from ${package}: refusing to overwrite it")
    endif()
  endforeach()
  step("dpkg -i ${deb}" dpkg -i "${deb}")
  # From here a failure removes the package first.
  macro(package_fail why)
    execute_process(COMMAND dpkg -r ${package})
    message(FATAL_ERROR "package_test (${MODE}): ${why} (${package} removed)")
  endmacro()
  capture(owner "dpkg -S /usr/bin/courier" dpkg -S /usr/bin/courier)
  if(NOT owner MATCHES "^${package}:")
    package_fail("dpkg -S /usr/bin/courier says ${owner}")
  endif()
  set(man_args)
  set(pc_env "PKG_CONFIG_PATH=${pc_dir}")
else()
  set(root "${WORK_DIR}/root")
  step("dpkg -x ${deb}" dpkg -x "${deb}" "${root}")
  set(man_args -M "${root}/usr/share/man")
  set(pc_env "PKG_CONFIG_PATH=${root}${pc_dir}" "PKG_CONFIG_SYSROOT_DIR=${root}")
endif()

capture(version "courier --version" "${root}/usr/bin/courier" --version)
if(NOT version STREQUAL "courier ${COURIER_VERSION}")
  package_fail("${root}/usr/bin/courier --version says '${version}', not 'courier ${COURIER_VERSION}'")
endif()
capture(man_page "man -w courier" man -w ${man_args} courier)
if(NOT man_page STREQUAL "${root}/usr/share/man/man1/courier.1.gz")
  package_fail("man -w courier says '${man_page}'")
endif()
# Its sections beyond help2man's own (packaging/courier.h2m).
capture(man_source "zcat the man page" zcat "${root}/usr/share/man/man1/courier.1.gz")
foreach(section SYNOPSIS DESCRIPTION ENVIRONMENT FILES "EXIT STATUS" EXAMPLES "SEE ALSO")
  if(NOT man_source MATCHES "\n\\.SH \"?${section}\"?\n")
    package_fail("the man page has no ${section} section")
  endif()
endforeach()
if(NOT man_source MATCHES "/dev/shm/courier")
  package_fail("the man page's FILES do not name /dev/shm/courier.BUS")
endif()
step("bash -n the completion" bash -n "${root}/usr/share/bash-completion/completions/courier")

# find_package against the package's prefix.
build_project("${TESTS_DIR}/consumer" "${WORK_DIR}/build" "-DCMAKE_PREFIX_PATH=${root}/usr"
  "-DCMAKE_BUILD_TYPE=${CONFIG}")
expect_cached_path("${WORK_DIR}/build" courier_DIR "${root}/usr/lib")
run_consumer("${WORK_DIR}/build/consumer")
# pkg-config against it.
pkg_config_consumer("${pc_env}" "${root}/usr/include" "${WORK_DIR}/pkg-config")

if(install_it)
  step("dpkg -r ${package}" dpkg -r ${package})
  if(EXISTS /usr/bin/courier OR EXISTS /usr/include/courier/bus.hpp)
    message(FATAL_ERROR "package_test: dpkg -r ${package} left /usr/bin/courier or /usr/include/courier")
  endif()
endif()
