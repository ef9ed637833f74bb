set(DEFTNN_SOURCES_CPU sve_state.cpp sve_apply.cpp input_transform.cpp)
set(DEFTNN_SOURCES_CUDA transform_kernels.cu)
set(DEFTNN_SOURCES_NOCUDA transform_kernels_nocuda.cpp)
