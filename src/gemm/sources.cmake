set(DEFTNN_SOURCES_CPU gemm.cpp cublas_backend.cpp cublaslt_backend.cpp cpu_emulated.cpp lowp.cpp packed_cache.cpp pack.cpp)
set(DEFTNN_SOURCES_CUDA kernels/fission_gemm.cu kernels/lowp_convert.cu)
set(DEFTNN_SOURCES_NOCUDA kernels/fission_gemm_nocuda.cpp kernels/lowp_convert_nocuda.cpp)
