include(GoogleTest)

# squint_test(NAME SOURCES... LIBS libs...): one gtest executable, each test registered with CTest.
# In a cross-build the tests are listed and run under CMAKE_CROSSCOMPILING_EMULATOR (qemu).
# COMPUTE: the harness itself computes much (brute-force searches over large samples): -O1 in
# sanitized builds too, where -O0 made such a test several times slower than its compile saves.
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
  # keep the build's flags. Normal and cross builds: the harness at -O1 (a fifth less compile time
  # than -O2). Sanitized builds: at -O0, half the compile time of -O1, every sanitizer kept.
  if(SQUINT_SANITIZED_BUILD AND T_COMPUTE)
    target_compile_options(${name} PRIVATE -O1)
  elseif(SQUINT_SANITIZED_BUILD)
    target_compile_options(${name} PRIVATE -O0)
  else()
    target_compile_options(${name} PRIVATE -O1)
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 900)
endfunction()
