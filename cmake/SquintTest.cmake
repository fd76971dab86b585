include(GoogleTest)

# squint_test(NAME SOURCES... LIBS libs...): one gtest executable, each test registered with CTest.
# In a cross-build the tests are listed and run under CMAKE_CROSSCOMPILING_EMULATOR (qemu).
# COMPUTE: the harness itself computes much (brute-force searches over large samples): built at
# -O1 instead of -O0 (below).
function(squint_test name)
  cmake_parse_arguments(T "COMPUTE" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_definitions(${name} PRIVATE
    SQUINT_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    SQUINT_VENV_PYTHON="${PROJECT_SOURCE_DIR}/.venv/bin/python")
  # Tests build values with partial aggregate initializers ({name, dtype, shape}): the fields left
  # out take their defaults on purpose.
  target_compile_options(${name} PRIVATE ${SQUINT_WARNINGS} -Wno-missing-field-initializers)
  # The harness (GoogleTest macros, testers, reference loops, generated data) is most of the build
  # time of the tests, which are most of each build's compile time in CI; the libraries under test
  # keep the build's flags. The harness builds at -O0 (half the compile time of -O1, a fifth of
  # -O2's saved again), every sanitizer kept; COMPUTE harnesses at -O1, where -O0 made a test
  # several times slower than its compile saves.
  if(T_COMPUTE)
    target_compile_options(${name} PRIVATE -O1)
  else()
    target_compile_options(${name} PRIVATE -O0)
  endif()
  # An executable of several test files compiles them as one unity translation unit (CMake's
  # UNITY_BUILD; batches of 8): the GoogleTest, standard and project headers they share are parsed
  # once per batch instead of once per file, about half of each file's compile time.
  set_target_properties(${name} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 8)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 900)
endfunction()
