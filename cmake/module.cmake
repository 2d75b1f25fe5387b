# The illumos kernel-module build: compiles sources the way illumos builds kernel modules
# (freestanding C++17 against driver/compat only, no exceptions, RTTI, unwind tables, red zone
# or FP/SIMD registers) for amd64 and aarch64, links each architecture's objects with `ld -r`
# into one relocatable object, and checks it with scripts/check-module.py.
#
#   pvscsi_add_kernel_module(NAME <name> SOURCES <file>... ALLOWLIST <file>
#                            [INCLUDE_DIRS <dir>...] [DEFINITIONS <def>...]
#                            [COMPILE_OPTIONS <opt>...] [ARCHES amd64|aarch64...]
#                            [DEPENDS <target>...] [NO_CHECK])
#     Target <name>_module (built by default) makes ${CMAKE_CURRENT_BINARY_DIR}/<name>.<arch>.o
#     per architecture; CTest tests <name>_module_check_<arch> run the DDI check on each.
#     INCLUDE_DIRS come before driver/compat; COMPILE_OPTIONS come after the kernel flags (so a
#     test can plant a violation such as -fexceptions); DEPENDS names targets to build first
#     (e.g. the generated headers). The object paths are in the target
#     property PVSCSI_MODULE_OBJECTS and in <name>_MODULE_OBJECTS in the caller's scope.
#
#   pvscsi_kernel_object_flags(<arch> <out-var>)
#     The kernel compile flags for an architecture.
#
# Toolchains: amd64 uses x86_64-linux-gnu-g++ / g++ and ld (the host's on x86-64 Debian),
# aarch64 uses Debian's g++-aarch64-linux-gnu and binutils-aarch64-linux-gnu (scripts/setup.sh).
# Override with -DPVSCSI_MODULE_CXX_<ARCH>=... and -DPVSCSI_MODULE_LD_<ARCH>=... When a toolchain
# is missing, its objects are not built and a test reports the missing tool (so CI fails
# visibly instead of silently checking one architecture).
include_guard(GLOBAL)

# Everything the functions and callers use is in the cache, so a second include() from another
# directory (which the guard skips) still sees it.
set(PVSCSI_MODULE_ARCHES "amd64;aarch64" CACHE STRING "architectures of the kernel-module build")
cmake_path(SET _pvscsi_script NORMALIZE "${CMAKE_CURRENT_LIST_DIR}/../scripts/check-module.py")
set(PVSCSI_MODULE_CHECK_SCRIPT "${_pvscsi_script}" CACHE INTERNAL "the DDI check")
cmake_path(SET _pvscsi_compat NORMALIZE "${CMAKE_CURRENT_LIST_DIR}/../driver/compat")
set(PVSCSI_MODULE_COMPAT_DIR "${_pvscsi_compat}" CACHE INTERNAL "the compat headers")
unset(_pvscsi_script)
unset(_pvscsi_compat)

if(NOT PVSCSI_MODULE_PYTHON)
  if(PVSCSI_PYTHON)
    set(PVSCSI_MODULE_PYTHON "${PVSCSI_PYTHON}" CACHE FILEPATH "python3 for the DDI check")
  else()
    find_program(PVSCSI_MODULE_PYTHON NAMES python3 REQUIRED DOC "python3 for the DDI check")
  endif()
endif()

# Tool lookup, once per configure. The host processor decides whether unprefixed tools are
# the amd64 ones.
set(_pvscsi_host_is_amd64 FALSE)
if(CMAKE_HOST_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(_pvscsi_host_is_amd64 TRUE)
endif()
set(_pvscsi_names_cxx_amd64 x86_64-linux-gnu-g++)
set(_pvscsi_names_ld_amd64 x86_64-linux-gnu-ld)
set(_pvscsi_names_readelf_amd64 x86_64-linux-gnu-readelf)
set(_pvscsi_names_objdump_amd64 x86_64-linux-gnu-objdump)
if(_pvscsi_host_is_amd64)
  list(APPEND _pvscsi_names_cxx_amd64 g++)
  list(APPEND _pvscsi_names_ld_amd64 ld)
  list(APPEND _pvscsi_names_readelf_amd64 readelf)
  list(APPEND _pvscsi_names_objdump_amd64 objdump)
endif()
set(_pvscsi_names_cxx_aarch64 aarch64-linux-gnu-g++)
set(_pvscsi_names_ld_aarch64 aarch64-linux-gnu-ld)
set(_pvscsi_names_readelf_aarch64 aarch64-linux-gnu-readelf)
set(_pvscsi_names_objdump_aarch64 aarch64-linux-gnu-objdump)
foreach(_arch amd64 aarch64)
  string(TOUPPER ${_arch} _ARCH)
  foreach(_tool cxx ld readelf objdump)
    string(TOUPPER ${_tool} _TOOL)
    find_program(PVSCSI_MODULE_${_TOOL}_${_ARCH} NAMES ${_pvscsi_names_${_tool}_${_arch}}
                 DOC "${_tool} for the ${_arch} kernel-module build")
  endforeach()
endforeach()
unset(_arch)
unset(_ARCH)
unset(_tool)
unset(_TOOL)

# The flags illumos uses for kernel modules, as far as GCC off illumos can reproduce them.
function(pvscsi_kernel_object_flags arch out)
  set(common
      -std=c++17 -O2 -D_KERNEL
      -ffreestanding -nostdinc -fno-builtin
      -fno-exceptions -fno-rtti -fno-threadsafe-statics
      -fno-asynchronous-unwind-tables -fno-unwind-tables
      -fno-stack-protector -fno-common -fno-pic -fno-pie
      -fno-omit-frame-pointer -fno-strict-aliasing
      -Wall -Wextra
      # Ill-formed C++, not style: a string literal passed where the DDI takes char *
      # (dev_err(9F), ddi_prop_get_int(9F)); the real headers declare char *, so does compat.
      -Werror=write-strings)
  if(arch STREQUAL "amd64")
    set(archflags
        -m64 -mcmodel=kernel -mno-red-zone
        -mno-mmx -mno-3dnow -mno-sse -mno-sse2 -mno-avx -mno-80387 -mno-fp-ret-in-387)
  elseif(arch STREQUAL "aarch64")
    set(archflags -mgeneral-regs-only -mno-outline-atomics)
  else()
    message(FATAL_ERROR "pvscsi_kernel_object_flags: unknown architecture '${arch}' "
                        "(amd64 or aarch64)")
  endif()
  set(${out} ${common} ${archflags} PARENT_SCOPE)
endfunction()

function(pvscsi_add_kernel_module)
  cmake_parse_arguments(PARSE_ARGV 0 M "NO_CHECK" "NAME;ALLOWLIST"
                        "SOURCES;INCLUDE_DIRS;DEFINITIONS;COMPILE_OPTIONS;ARCHES;DEPENDS")
  if(M_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "pvscsi_add_kernel_module: unknown arguments: ${M_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT M_NAME OR NOT M_SOURCES)
    message(FATAL_ERROR "pvscsi_add_kernel_module: NAME and SOURCES are required")
  endif()
  if(NOT M_NO_CHECK AND NOT M_ALLOWLIST)
    message(FATAL_ERROR "pvscsi_add_kernel_module(${M_NAME}): ALLOWLIST is required "
                        "(or NO_CHECK)")
  endif()
  if(NOT M_ARCHES)
    set(M_ARCHES ${PVSCSI_MODULE_ARCHES})
  endif()
  if(M_ALLOWLIST)
    cmake_path(ABSOLUTE_PATH M_ALLOWLIST BASE_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  endif()

  set(includes)
  foreach(dir ${M_INCLUDE_DIRS} ${PVSCSI_MODULE_COMPAT_DIR})
    cmake_path(ABSOLUTE_PATH dir BASE_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
    list(APPEND includes "-I${dir}")
  endforeach()
  set(defines)
  foreach(def ${M_DEFINITIONS})
    list(APPEND defines "-D${def}")
  endforeach()

  set(outputs)
  set(workdir "${CMAKE_CURRENT_BINARY_DIR}/${M_NAME}.module")
  foreach(arch ${M_ARCHES})
    string(TOUPPER ${arch} ARCH)
    set(cxx "${PVSCSI_MODULE_CXX_${ARCH}}")
    set(ld "${PVSCSI_MODULE_LD_${ARCH}}")
    set(readelf "${PVSCSI_MODULE_READELF_${ARCH}}")
    set(objdump "${PVSCSI_MODULE_OBJDUMP_${ARCH}}")
    set(missing)
    foreach(tool cxx ld readelf objdump)
      if(NOT ${tool})
        list(APPEND missing ${tool})
      endif()
    endforeach()
    if(missing)
      message(WARNING "pvscsi_add_kernel_module(${M_NAME}): no ${missing} for ${arch}; "
                      "its module is not built (run scripts/setup.sh)")
      if(NOT M_NO_CHECK)
        add_test(NAME ${M_NAME}_module_check_${arch}
                 COMMAND ${CMAKE_COMMAND} -E echo
                         "missing ${arch} toolchain (${missing}): run scripts/setup.sh")
        set_tests_properties(${M_NAME}_module_check_${arch} PROPERTIES WILL_FAIL TRUE
                             LABELS "suites;module")
      endif()
      continue()
    endif()

    pvscsi_kernel_object_flags(${arch} flags)
    set(objects)
    set(i 0)
    foreach(src ${M_SOURCES})
      cmake_path(ABSOLUTE_PATH src BASE_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
      cmake_path(GET src STEM stem)
      set(obj "${workdir}/${arch}/${i}_${stem}.o")
      add_custom_command(
        OUTPUT ${obj}
        COMMAND ${cxx} ${flags} ${defines} ${includes} ${M_COMPILE_OPTIONS}
                -MD -MF ${obj}.d -MT ${obj} -c ${src} -o ${obj}
        DEPFILE ${obj}.d
        DEPENDS ${src}
        COMMENT "Compiling ${arch} kernel object ${M_NAME}: ${stem}"
        COMMAND_EXPAND_LISTS VERBATIM)
      list(APPEND objects ${obj})
      math(EXPR i "${i} + 1")
    endforeach()

    set(module "${CMAKE_CURRENT_BINARY_DIR}/${M_NAME}.${arch}.o")
    add_custom_command(
      OUTPUT ${module}
      COMMAND ${ld} -r -o ${module} ${objects}
      DEPENDS ${objects}
      COMMENT "Linking ${arch} kernel module ${M_NAME}.${arch}.o (ld -r)"
      COMMAND_EXPAND_LISTS VERBATIM)
    list(APPEND outputs ${module})

    if(NOT M_NO_CHECK)
      add_test(NAME ${M_NAME}_module_check_${arch}
               COMMAND ${PVSCSI_MODULE_PYTHON} ${PVSCSI_MODULE_CHECK_SCRIPT}
                       --allowlist ${M_ALLOWLIST} --arch ${arch}
                       --readelf ${readelf} --objdump ${objdump} ${module})
      set_tests_properties(${M_NAME}_module_check_${arch} PROPERTIES LABELS "suites;module")
    endif()
  endforeach()

  add_custom_target(${M_NAME}_module ALL DEPENDS ${outputs})
  if(M_DEPENDS)
    add_dependencies(${M_NAME}_module ${M_DEPENDS})
  endif()
  set_property(TARGET ${M_NAME}_module PROPERTY PVSCSI_MODULE_OBJECTS ${outputs})
  set(${M_NAME}_MODULE_OBJECTS ${outputs} PARENT_SCOPE)
endfunction()
