set(DEFTNN_SOURCES_CPU gemm.cpp cublas_backend.cpp cublaslt_backend.cpp cpu_emulated.cpp mixed_backend.cpp lowp.cpp packed_cache.cpp pack.cpp
    mixed/mixed_format.cpp mixed/mixed_pack.cpp mixed/mixed_device.cpp)
set(DEFTNN_SOURCES_CUDA kernels/fission_gemm.cu kernels/lowp_convert.cu kernels/mixed_gemm.cu)
set(DEFTNN_SOURCES_NOCUDA kernels/fission_gemm_nocuda.cpp kernels/lowp_convert_nocuda.cpp kernels/mixed_gemm_nocuda.cpp)
