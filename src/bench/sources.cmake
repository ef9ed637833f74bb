set(DEFTNN_SOURCES_CPU)
# GEMM benchmark (issue 3): CUDA only; without CUDA the entry points throw.
list(APPEND DEFTNN_SOURCES_CUDA gemm_bench.cpp gemm_bench.cu)
list(APPEND DEFTNN_SOURCES_NOCUDA gemm_bench_nocuda.cpp)
if(DEFTNN_CUDA AND TARGET CUDA::cupti)
  target_link_libraries(deftnn PUBLIC CUDA::cupti)
  set_source_files_properties(src/bench/gemm_bench.cu PROPERTIES COMPILE_DEFINITIONS DEFTNN_WITH_CUPTI=1)
endif()
