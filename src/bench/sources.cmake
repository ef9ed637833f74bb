# The benchmark harness, the deftnn_bench library (CMakeLists.txt): timing on
# top of core/timing.h (graphs, L2 flush, per-layer events, environment),
# kernel names of library baselines (CUPTI), the network benchmark and its JSON,
# the GEMM benchmark (issue 3; CUDA only, without CUDA its entry points throw),
# the roofline (issue 9): counted FLOPs and bytes, the GPU's ceilings
# (measured on CUDA only), layers placed under them; and the encoder's
# per-density timing (issue 10, `deftnn bench embed`).
set(DEFTNN_SOURCES_CPU timer.cpp kernel_names.cpp net_report.cpp net_bench.cpp layer_traffic.cpp ceilings_report.cpp
    roofline.cpp embed_bench.cpp gemm_variants.cpp)
set(DEFTNN_SOURCES_CUDA gemm_bench.cpp gemm_bench.cu ceilings.cpp ceilings.cu)
set(DEFTNN_SOURCES_NOCUDA gemm_bench_nocuda.cpp ceilings_nocuda.cpp)

# The commit the build was configured at, a fallback for git_commit() when the
# source tree has no .git at run time (DEFTNN_COMMIT in the environment wins).
execute_process(COMMAND git rev-parse HEAD WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}
                OUTPUT_VARIABLE _deftnn_build_commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
set_source_files_properties(${CMAKE_CURRENT_SOURCE_DIR}/src/bench/timer.cpp PROPERTIES COMPILE_DEFINITIONS
  "DEFTNN_SOURCE_DIR=\"${CMAKE_CURRENT_SOURCE_DIR}\";DEFTNN_BUILD_COMMIT=\"${_deftnn_build_commit}\"")

# CUPTI (kernel names) when the toolkit ships it; without it the recorder is a stub.
if(DEFTNN_CUDA AND TARGET CUDA::cupti)
  target_link_libraries(deftnn_bench PUBLIC CUDA::cupti)
  set_property(SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/src/bench/kernel_names.cpp APPEND PROPERTY COMPILE_DEFINITIONS
    DEFTNN_WITH_CUPTI=1)
endif()
