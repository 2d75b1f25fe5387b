# The generated hardware interface (owned by the generator; see gen/ and hw/pvscsi.yaml).
#
# - pvscsi_generated: a header-only INTERFACE target for generated/.
# - pvscsi_generate: regenerates generated/ when hw/, templates/ or gen/ change (only files
#   whose text changes are rewritten, so dependents rebuild only when they must).
# - CTest (tests/suites/generator/CMakeLists.txt): the generated layout tests, the handwritten
#   golden and skeleton tests, a freestanding (-ffreestanding -nostdinc) compile of the headers,
#   pytest for the generator, `gen --check`, and the spec-change test (a moved field, rebuilt and
#   exercised end to end).
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

# Host-side tests of the generated code, pytest for the generator, `gen --check` and the
# spec-change test: tests/suites/generator (always built, whatever PVSCSI_PARTS says).
add_subdirectory(${PVSCSI_GEN_SOURCE_DIR}/tests/suites/generator
                 ${CMAKE_BINARY_DIR}/tests/suites/generator)
