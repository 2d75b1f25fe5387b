# Test code that several parts use, defined before the parts so that each part still builds
# alone (PVSCSI_PARTS): leaf libraries that need nothing but the generated headers.
#
# - fk_cdb: SCSI CDB builders and parameter-data parsers (tests/host/client/cdb.h).
# - fk_shadow: ShadowDisk, the one data oracle of verified I/O (tests/host/client/shadow.h).
# - pvscsi_hand_driver: the hand-played ring-level driver over the device seam
#   (tests/devices/hand/hand_driver.h) under the mock's and QEMU's ring tests.
set(_pvscsi_client_dir ${CMAKE_CURRENT_LIST_DIR}/../tests/host/client)
add_library(fk_cdb STATIC ${_pvscsi_client_dir}/cdb.cc)
add_library(fk_shadow STATIC ${_pvscsi_client_dir}/shadow.cc)
foreach(lib fk_cdb fk_shadow)
  target_include_directories(${lib} PUBLIC ${_pvscsi_client_dir})
  target_compile_options(${lib} PRIVATE ${PVSCSI_WARNINGS})
endforeach()

set(_pvscsi_hand_dir ${CMAKE_CURRENT_LIST_DIR}/../tests/devices/hand)
add_library(pvscsi_hand_driver STATIC ${_pvscsi_hand_dir}/hand_driver.cc)
target_include_directories(pvscsi_hand_driver PUBLIC ${_pvscsi_hand_dir}
                           ${CMAKE_CURRENT_LIST_DIR}/../tests/host/kernel)  # device.h
target_link_libraries(pvscsi_hand_driver PUBLIC pvscsi_generated pvscsi_compat_host)
target_compile_options(pvscsi_hand_driver PRIVATE ${PVSCSI_WARNINGS})
if(TARGET pvscsi_generate)
  add_dependencies(pvscsi_hand_driver pvscsi_generate)
endif()

# pvscsi_driver_harness(<name> <device library> <source>...): a library running the unmodified
# driver on the userland kernel against a device, for the suites. Its sources and whatever
# links it see PVSCSI_CONF_PATH, the driver's pvscsi.conf.
function(pvscsi_driver_harness name device)
  add_library(${name} STATIC ${ARGN})
  target_include_directories(${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC pvscsi_driver ${device} fk_client fk_scsa fk_kernel
                        Threads::Threads)
  target_compile_options(${name} PRIVATE ${PVSCSI_WARNINGS})
  target_compile_definitions(${name} PUBLIC
                             PVSCSI_CONF_PATH="${PROJECT_SOURCE_DIR}/driver/pvscsi.conf")
endfunction()
