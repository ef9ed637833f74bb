set(DEFTNN_SOURCES_CPU method.cpp correlation.cpp search.cpp groups.cpp eligible.cpp plan.cpp eliminate.cpp reconstruct.cpp)
set(DEFTNN_SOURCES_CUDA correlation_kernels.cu)
set(DEFTNN_SOURCES_NOCUDA correlation_kernels_nocuda.cpp)
