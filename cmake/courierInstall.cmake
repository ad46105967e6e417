# courier's install rules and package files, included by the top-level
# CMakeLists.txt when COURIER_INSTALL is ON (the default at top level only, so
# a parent's add_subdirectory(courier) gets none of them).
#
# Installed (under CMAKE_INSTALL_PREFIX):
#   include/courier/*.hpp, include/courier/detail/*.hpp (the tree as it is),
#     include/courier/version.hpp (generated)
#   lib/libcourier_core.a
#   lib/cmake/courier/courier{Config,ConfigVersion,Targets}.cmake
#   lib/pkgconfig/courier.pc
#   bin/courier (when COURIER_BUILD_CLI)
# The build tree also gets courier{Config,ConfigVersion,Targets}.cmake at its
# top, so -Dcourier_DIR=<build> finds the library built there (export()).
include(CMakePackageConfigHelpers)

set(COURIER_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/courier)

# Headers: DIRECTORY keeps the tree, so internals land in include/courier/detail/.
install(DIRECTORY include/courier DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.hpp")
install(FILES ${PROJECT_BINARY_DIR}/include/courier/version.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/courier)

install(TARGETS courier courier_core EXPORT courierTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
if(COURIER_BUILD_CLI)
  install(TARGETS courier_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

# CMake package: the install's and the build tree's. courierConfig.cmake finds
# courierTargets.cmake beside itself, so one file serves both.
install(EXPORT courierTargets NAMESPACE courier:: DESTINATION ${COURIER_CMAKE_DIR})
export(EXPORT courierTargets NAMESPACE courier:: FILE ${PROJECT_BINARY_DIR}/courierTargets.cmake)
configure_package_config_file(cmake/courierConfig.cmake.in ${PROJECT_BINARY_DIR}/courierConfig.cmake
  INSTALL_DESTINATION ${COURIER_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/courierConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/courierConfig.cmake ${PROJECT_BINARY_DIR}/courierConfigVersion.cmake
  DESTINATION ${COURIER_CMAKE_DIR})

# pkg-config: courier.pc.in is filled in now with everything but the prefix,
# which is only known at install time (cmake --install --prefix, or CPack's
# staging with /usr): the install step writes the file with it.
set(COURIER_PC_PREFIX "@COURIER_PC_PREFIX@")  # kept for the install step
set(COURIER_PC_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR})
set(COURIER_PC_LIBDIR ${CMAKE_INSTALL_LIBDIR})
foreach(v COURIER_PC_INCLUDEDIR COURIER_PC_LIBDIR)
  if(NOT IS_ABSOLUTE "${${v}}")
    set(${v} "\${prefix}/${${v}}")
  endif()
endforeach()
configure_file(cmake/courier.pc.in ${PROJECT_BINARY_DIR}/pkgconfig/courier.pc.in @ONLY)
# The file is written under a name of its own per destination: installs into
# two prefixes at once (the tests do) must not share it.
install(CODE "
  set(COURIER_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  string(MD5 courier_pc_dir \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}\")
  set(courier_pc_dir \"${PROJECT_BINARY_DIR}/pkgconfig/\${courier_pc_dir}\")
  configure_file(\"${PROJECT_BINARY_DIR}/pkgconfig/courier.pc.in\" \"\${courier_pc_dir}/courier.pc\" @ONLY)
  file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig\" TYPE FILE
    FILES \"\${courier_pc_dir}/courier.pc\")")

# The CLI's man page (help2man runs the built courier for --help and --version;
# packaging/courier.h2m adds SYNOPSIS, ENVIRONMENT, FILES, EXIT STATUS, EXAMPLES, SEE ALSO)
# and its bash completion (packaging/bash-completion/courier).
if(COURIER_BUILD_CLI)
  install(FILES packaging/bash-completion/courier DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
  find_program(COURIER_HELP2MAN help2man)
  if(COURIER_HELP2MAN)
    add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/man/courier.1.gz
      COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
      COMMAND ${COURIER_HELP2MAN} --no-info --section=1 --source=courier
              "--name=the command line of the courier message bus" --output=${PROJECT_BINARY_DIR}/man/courier.1
              --include=${PROJECT_SOURCE_DIR}/packaging/courier.h2m $<TARGET_FILE:courier_cli>
      COMMAND gzip -9nf ${PROJECT_BINARY_DIR}/man/courier.1
      DEPENDS courier_cli ${PROJECT_SOURCE_DIR}/packaging/courier.h2m
      COMMENT "Generating the man page courier.1 (help2man)"
      VERBATIM)
    add_custom_target(courier_man ALL DEPENDS ${PROJECT_BINARY_DIR}/man/courier.1.gz)
    install(FILES ${PROJECT_BINARY_DIR}/man/courier.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
  else()
    message(WARNING "help2man not found: no man page for courier (Debian: help2man)")
  endif()
endif()
