set(DEFTNN_SOURCES_CPU sve_state.cpp sve_apply.cpp filler.cpp im2col.cpp gemm_layer_kernels.cpp conv.cpp conv_cudnn.cpp
    linear.cpp)
set(DEFTNN_SOURCES_CUDA im2col.cu gemm_layer_kernels.cu)
set(DEFTNN_SOURCES_NOCUDA layers_nocuda.cpp)
