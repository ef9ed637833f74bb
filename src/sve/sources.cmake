set(DEFTNN_SOURCES_CPU correlation.cpp search.cpp plan.cpp input_transform.cpp eliminate.cpp reconstruct.cpp)
set(DEFTNN_SOURCES_CUDA sve_kernels.cu)
set(DEFTNN_SOURCES_NOCUDA sve_kernels_nocuda.cpp)
