# The generated hardware interface (owned by the generator; see gen/ and hw/pvscsi.yaml).
#
# - pvscsi_generated: a header-only INTERFACE target for generated/.
# - pvscsi_generate: regenerates generated/ when hw/, templates/ or gen/ change (only files
#   whose text changes are rewritten, so dependents rebuild only when they must).
# - CTest: the generated layout tests, the handwritten golden and skeleton tests, a
#   freestanding (-ffreestanding -nostdinc) compile of the headers, pytest for the generator,
#   `gen --check`, and the spec-change test (a moved field, rebuilt and exercised end to end).
# - PVSCSI_GENERATED_DIR: the directory of generated headers the whole build includes.

set(PVSCSI_GEN_SOURCE_DIR ${CMAKE_CURRENT_LIST_DIR}/..)
cmake_path(NORMAL_PATH PVSCSI_GEN_SOURCE_DIR)

# The directory of generated headers everything includes: the checked-in generated/ unless
# another is given (the spec-change test builds the driver and the mock against headers
# generated from an edited description). Only generated/ itself is ever regenerated.
set(PVSCSI_GEN_DEFAULT_DIR ${PVSCSI_GEN_SOURCE_DIR}/generated)
set(PVSCSI_GENERATED_DIR ${PVSCSI_GEN_DEFAULT_DIR} CACHE PATH
    "directory of the generated headers the build includes (default: generated/)")
cmake_path(ABSOLUTE_PATH PVSCSI_GENERATED_DIR BASE_DIRECTORY ${CMAKE_BINARY_DIR} NORMALIZE)
cmake_path(NORMAL_PATH PVSCSI_GEN_DEFAULT_DIR)
string(REGEX REPLACE "/$" "" PVSCSI_GENERATED_DIR "${PVSCSI_GENERATED_DIR}")
if(NOT EXISTS ${PVSCSI_GENERATED_DIR}/pvscsi_hw.h)
  message(FATAL_ERROR "PVSCSI_GENERATED_DIR=${PVSCSI_GENERATED_DIR} has no pvscsi_hw.h; "
                      "generate into it with `python3 -m gen --out DIR`")
endif()

add_library(pvscsi_generated INTERFACE)
target_include_directories(pvscsi_generated INTERFACE ${PVSCSI_GENERATED_DIR})

option(PVSCSI_REGENERATE "regenerate generated/ during the build when its inputs change" ON)
set(_pvscsi_regenerate ${PVSCSI_REGENERATE})
if(_pvscsi_regenerate AND NOT PVSCSI_GENERATED_DIR STREQUAL PVSCSI_GEN_DEFAULT_DIR)
  message(STATUS "PVSCSI_GENERATED_DIR is not generated/: not regenerating it during the build")
  set(_pvscsi_regenerate OFF)
endif()
if(_pvscsi_regenerate)
  file(GLOB PVSCSI_GEN_INPUTS CONFIGURE_DEPENDS
       ${PVSCSI_GEN_SOURCE_DIR}/hw/*.yaml
       ${PVSCSI_GEN_SOURCE_DIR}/templates/*.j2
       ${PVSCSI_GEN_SOURCE_DIR}/gen/*.py)
  set(PVSCSI_GENERATED_FILES
      ${PVSCSI_GENERATED_DIR}/pvscsi_defs.h
      ${PVSCSI_GENERATED_DIR}/pvscsi_regs.h
      ${PVSCSI_GENERATED_DIR}/pvscsi_layouts.h
      ${PVSCSI_GENERATED_DIR}/pvscsi_hw.h
      ${PVSCSI_GENERATED_DIR}/pvscsi_mock_skeleton.h
      ${PVSCSI_GENERATED_DIR}/pvscsi_layout_test.cc
      ${PVSCSI_GENERATED_DIR}/REGISTERS.md)
  add_custom_command(
    OUTPUT ${CMAKE_BINARY_DIR}/pvscsi_generated.stamp
    BYPRODUCTS ${PVSCSI_GENERATED_FILES}
    COMMAND ${PVSCSI_PYTHON} -B -m gen --quiet
    COMMAND ${CMAKE_COMMAND} -E touch ${CMAKE_BINARY_DIR}/pvscsi_generated.stamp
    DEPENDS ${PVSCSI_GEN_INPUTS} ${PVSCSI_GEN_SOURCE_DIR}/.clang-format
    WORKING_DIRECTORY ${PVSCSI_GEN_SOURCE_DIR}
    COMMENT "Generating generated/ from hw/pvscsi.yaml"
    VERBATIM)
  add_custom_target(pvscsi_generate ALL DEPENDS ${CMAKE_BINARY_DIR}/pvscsi_generated.stamp)
  add_dependencies(pvscsi_generated pvscsi_generate)
endif()

# Host-side tests of the generated code. <sys/int_types.h> comes from driver/compat when it
# has one, else from the tiny copy under tests/generated/include (both after the C library).
set(PVSCSI_GEN_TEST_DIR ${PVSCSI_GEN_SOURCE_DIR}/tests/generated)
add_library(pvscsi_generated_host INTERFACE)
target_link_libraries(pvscsi_generated_host INTERFACE pvscsi_generated pvscsi_compat_host)
target_compile_options(pvscsi_generated_host INTERFACE
  "SHELL:-idirafter ${PVSCSI_GEN_TEST_DIR}/include")

include(GoogleTest)
foreach(test_name IN ITEMS layout golden skeleton)
  if(test_name STREQUAL "layout")
    set(test_source ${PVSCSI_GENERATED_DIR}/pvscsi_layout_test.cc)
  else()
    set(test_source ${PVSCSI_GEN_TEST_DIR}/${test_name}_test.cc)
  endif()
  add_executable(pvscsi_generated_${test_name}_test ${test_source})
  target_link_libraries(pvscsi_generated_${test_name}_test PRIVATE pvscsi_generated_host
                        GTest::gtest_main)
  target_compile_options(pvscsi_generated_${test_name}_test PRIVATE ${PVSCSI_WARNINGS})
  gtest_discover_tests(pvscsi_generated_${test_name}_test TEST_PREFIX "generated.${test_name}.")
endforeach()

# The headers as kernel code sees them: no C library, no C++ library, no exceptions or RTTI.
foreach(compiler IN ITEMS ${CMAKE_CXX_COMPILER} clang++)
  if(NOT IS_ABSOLUTE ${compiler})
    find_program(PVSCSI_CLANGXX clang++)
    if(NOT PVSCSI_CLANGXX)
      continue()
    endif()
    set(compiler ${PVSCSI_CLANGXX})
  endif()
  get_filename_component(compiler_name ${compiler} NAME)
  add_test(NAME generated.freestanding.${compiler_name}
           COMMAND ${compiler} -std=c++17 -ffreestanding -nostdinc -fno-exceptions -fno-rtti
                   -fno-threadsafe-statics -Wall -Wextra -Werror -fsyntax-only
                   -I${PVSCSI_GEN_TEST_DIR}/include -I${PVSCSI_GENERATED_DIR}
                   ${PVSCSI_GEN_TEST_DIR}/freestanding.cc)
endforeach()

# The same with the project's own <sys/int_types.h> (driver/compat), once it exists.
if(EXISTS ${PVSCSI_GEN_SOURCE_DIR}/driver/compat/sys/int_types.h)
  add_test(NAME generated.freestanding.compat
           COMMAND ${CMAKE_CXX_COMPILER} -std=c++17 -ffreestanding -nostdinc -fno-exceptions
                   -fno-rtti -fno-threadsafe-statics -Wall -Wextra -Werror -fsyntax-only
                   -I${PVSCSI_GEN_SOURCE_DIR}/driver/compat -I${PVSCSI_GENERATED_DIR}
                   ${PVSCSI_GEN_TEST_DIR}/freestanding.cc)
endif()

add_test(NAME generated.pytest
         COMMAND ${PVSCSI_PYTHON} -B -m pytest -q -p no:cacheprovider tests/gen
                 --ignore=tests/gen/test_spec_change.py
         WORKING_DIRECTORY ${PVSCSI_GEN_SOURCE_DIR})
# The description as the single source of truth: a moved field regenerates, `gen --check` names
# the stale files, and the driver and the mock built against the regenerated headers (a separate
# CMake build in a temporary directory, -DPVSCSI_GENERATED_DIR) still pass a verified run.
set(_pvscsi_spec_change_env PVSCSI_CMAKE=${CMAKE_COMMAND} PVSCSI_CXX=${CMAKE_CXX_COMPILER}
                            PVSCSI_CC=${CMAKE_C_COMPILER})
if(CMAKE_GENERATOR MATCHES "Ninja" AND CMAKE_MAKE_PROGRAM)
  list(APPEND _pvscsi_spec_change_env PVSCSI_NINJA=${CMAKE_MAKE_PROGRAM})
endif()
add_test(NAME generated.spec_change
         COMMAND ${PVSCSI_PYTHON} -B -m pytest -q -s -p no:cacheprovider -rs
                 tests/gen/test_spec_change.py
         WORKING_DIRECTORY ${PVSCSI_GEN_SOURCE_DIR})
# Skipped (pytest's summary "N passed, 1 skipped") only without cmake or a compiler.
set_tests_properties(generated.spec_change PROPERTIES TIMEOUT 600
  ENVIRONMENT "${_pvscsi_spec_change_env}"
  SKIP_REGULAR_EXPRESSION "\n[0-9]+ passed, [0-9]+ skipped in ")
add_test(NAME generated.check
         COMMAND ${PVSCSI_PYTHON} -B -m gen --check
         WORKING_DIRECTORY ${PVSCSI_GEN_SOURCE_DIR})
