# GoogleTest for a runtime-only build. A native build uses the installed package (libgtest-dev);
# a cross-build compiles Debian's sources (/usr/src/googletest, package googletest) for the
# target, since the installed libraries are the build machine's.
if(CMAKE_CROSSCOMPILING)
  set(SQUINT_GTEST_SOURCE_DIR /usr/src/googletest CACHE PATH "GoogleTest sources to build for the target")
  if(NOT EXISTS ${SQUINT_GTEST_SOURCE_DIR}/CMakeLists.txt)
    message(FATAL_ERROR "no GoogleTest sources in ${SQUINT_GTEST_SOURCE_DIR} (apt-get install googletest), "
                        "or configure with -DSQUINT_BUILD_TESTS=OFF")
  endif()
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  set(BUILD_GMOCK ON CACHE BOOL "" FORCE)
  add_subdirectory(${SQUINT_GTEST_SOURCE_DIR} ${CMAKE_BINARY_DIR}/googletest EXCLUDE_FROM_ALL SYSTEM)
  foreach(lib gtest gtest_main gmock)  # GoogleTest 1.12 defines the GTest:: aliases itself
    if(NOT TARGET GTest::${lib})
      add_library(GTest::${lib} ALIAS ${lib})
    endif()
  endforeach()
else()
  find_package(GTest REQUIRED)
endif()
