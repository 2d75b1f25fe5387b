# The generated hardware interface: a header-only target, regenerated when hw/ or templates/
# change. (Owned by the generator; see gen/.)
add_library(pvscsi_generated INTERFACE)
target_include_directories(pvscsi_generated INTERFACE ${CMAKE_SOURCE_DIR}/generated)
