# The real-header build of the driver: compiles driver/*.cc against an illumos-gate tree's
# headers with illumos's own kernel flags (scripts/build-against-gate.sh), links with `ld -r`
# and runs the DDI check with the kernel-provided runtime allowed.
#
#   -DILLUMOS_GATE=/path/to/illumos-gate          gate root (usr/src/uts/{common,intel}) for amd64
#   -DILLUMOS_GATE_AARCH64=/path/to/arm64-gate    the arm64-gate branch (uts/{common,aarch64})
#
# CTest tests module_gate_build_amd64 and module_gate_build_aarch64 always exist; without a
# configured tree they report SKIPPED (exit 77) and say how to configure one.
# scripts/extract-gate-headers.sh extracts the headers from a checkout or a bare mirror.
include_guard(GLOBAL)

set(ILLUMOS_GATE "" CACHE PATH "illumos-gate tree (usr/src) for the amd64 real-header build")
set(ILLUMOS_GATE_AARCH64 "" CACHE PATH
    "illumos-gate arm64-gate tree (usr/src) for the aarch64 real-header build")

function(pvscsi_add_gate_build_tests python)
  cmake_path(SET script NORMALIZE "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/../scripts/build-against-gate.sh")
  foreach(arch amd64 aarch64)
    if(arch STREQUAL "amd64")
      set(gate "${ILLUMOS_GATE}")
    else()
      set(gate "${ILLUMOS_GATE_AARCH64}")
    endif()
    if(gate STREQUAL "")
      set(gate "-")  # no tree: the script skips
    endif()
    add_test(NAME module_gate_build_${arch}
             COMMAND bash ${script} --arch ${arch} --gate ${gate}
                     --out ${CMAKE_BINARY_DIR}/gate/${arch} --python ${python})
    set_tests_properties(module_gate_build_${arch} PROPERTIES LABELS "suites;module"
                         SKIP_RETURN_CODE 77)
  endforeach()
endfunction()
