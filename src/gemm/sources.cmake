set(DEFTNN_SOURCES_CPU gemm.cpp cublas_backend.cpp packed_cache.cpp pack.cpp
    mixed/mixed_format.cpp mixed/mixed_pack.cpp mixed/mixed_device.cpp)
set(DEFTNN_SOURCES_CUDA kernels/fission_gemm.cu kernels/mixed_gemm.cu)
set(DEFTNN_SOURCES_NOCUDA kernels/fission_gemm_nocuda.cpp kernels/mixed_gemm_nocuda.cpp)
