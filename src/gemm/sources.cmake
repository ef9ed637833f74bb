set(DEFTNN_SOURCES_CPU gemm.cpp cublas_backend.cpp packed_cache.cpp pack.cpp)
set(DEFTNN_SOURCES_CUDA kernels/fission_gemm.cu)
set(DEFTNN_SOURCES_NOCUDA kernels/fission_gemm_nocuda.cpp)
