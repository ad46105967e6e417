# CPack: `cpack -G DEB` in the build tree makes courier-bus_<version>_<arch>.deb
# with everything `cmake --install` puts under /usr: the headers, the static
# library, the CMake package and courier.pc, the CLI with its man page and bash
# completion. Included at top level only (it writes CPackConfig.cmake into the
# top of the build tree).
#
# The package is courier-bus, not courier: Debian's courier-* packages are the
# Courier mail server.
set(CPACK_PACKAGE_NAME courier-bus)
set(CPACK_PACKAGE_VENDOR "courier")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_CONTACT "courier maintainers <courier@localhost>")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
# The first line is the summary; CPack indents the others.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "${PROJECT_DESCRIPTION}
C++20 headers and the static library libcourier_core.a (find_package(courier)
or pkg-config courier), and the courier command-line tool with its man page
and bash completion.")
# Depends: from the CLI's shared libraries (dpkg-shlibdeps).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
include(CPack)
