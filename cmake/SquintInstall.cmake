# The installable runtime package (cmake --install BUILD --prefix PREFIX):
#   PREFIX/include/squint/squint_rt.h, squint_rt.hpp      C API and its C++17 wrapper
#   PREFIX/LIBDIR/libsquint_runtime.a                      static (position-independent code)
#   PREFIX/LIBDIR/libsquint_runtime.so.X.Y.Z (+ .so.X, .so) shared, exporting the C API only
#   PREFIX/LIBDIR/cmake/squint/                            find_package(squint CONFIG): squint::runtime,
#                                                          squint::runtime_shared
#   PREFIX/LIBDIR/pkgconfig/squint-runtime.pc              pkg-config
#   PREFIX/include/squint/squint_toolkit.h, LIBDIR/libsquint_toolkit.so.X.Y.Z   the toolkit (toolkit/CMakeLists.txt):
#                                                          squint::toolkit
# examples/ is a separate CMake project built against such a prefix (scripts/check_install.sh).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
find_package(Threads REQUIRED)

# The header's version macros and the project's version must agree.
file(STRINGS ${PROJECT_SOURCE_DIR}/runtime/squint_rt.h _squint_rt_version REGEX "#define SQUINT_RT_VERSION_(MAJOR|MINOR|PATCH)")
string(REGEX REPLACE "[^0-9;]*([0-9]+)" "\\1" _squint_rt_version "${_squint_rt_version}")
string(REPLACE ";" "." _squint_rt_version "${_squint_rt_version}")
if(NOT _squint_rt_version STREQUAL PROJECT_VERSION)
  message(FATAL_ERROR "runtime/squint_rt.h says version ${_squint_rt_version}, CMakeLists.txt ${PROJECT_VERSION}")
endif()

# The archive is position-independent so that the shared library can be made of it whole.
set_target_properties(squint_runtime PROPERTIES POSITION_INDEPENDENT_CODE ON)
set(_squint_install_targets squint_runtime)
# A sanitized build's objects need the sanitizer runtimes: no shared library there.
if(NOT SQUINT_SANITIZED_BUILD)
  add_library(squint_runtime_shared SHARED ${PROJECT_SOURCE_DIR}/runtime/squint_rt_shared.cc)
  target_include_directories(squint_runtime_shared PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_options(squint_runtime_shared PRIVATE -fno-exceptions -fno-rtti ${SQUINT_NO_UNWIND_TABLES})
  target_link_libraries(squint_runtime_shared PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,squint_runtime>" Threads::Threads)
  target_link_options(squint_runtime_shared PRIVATE
    "-Wl,--version-script=${PROJECT_SOURCE_DIR}/runtime/squint_rt.map" -Wl,--no-undefined)
  set_target_properties(squint_runtime_shared PROPERTIES
    OUTPUT_NAME squint_runtime VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
    LINK_DEPENDS ${PROJECT_SOURCE_DIR}/runtime/squint_rt.map)
  list(APPEND _squint_install_targets squint_runtime_shared)
endif()

install(TARGETS ${_squint_install_targets}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${PROJECT_SOURCE_DIR}/runtime/squint_rt.h ${PROJECT_SOURCE_DIR}/runtime/squint_rt.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/squint)

set(_squint_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/squint)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/squintConfig.cmake.in
  ${PROJECT_BINARY_DIR}/package/squintConfig.cmake INSTALL_DESTINATION ${_squint_cmake_dir}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_LIBDIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/package/squintConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/package/squintConfig.cmake ${PROJECT_BINARY_DIR}/package/squintConfigVersion.cmake
        DESTINATION ${_squint_cmake_dir})

# pkg-config: paths relative to the .pc file, so that the prefix can move.
file(RELATIVE_PATH SQUINT_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
configure_file(${PROJECT_SOURCE_DIR}/cmake/squint-runtime.pc.in ${PROJECT_BINARY_DIR}/package/squint-runtime.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/package/squint-runtime.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
