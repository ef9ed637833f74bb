set(DEFTNN_SOURCES_CPU filler.cpp im2col.cpp gemm_layer_kernels.cpp gemm_layer.cpp conv.cpp conv_cudnn.cpp
    linear.cpp layer_util.cpp registry.cpp relu.cpp clip.cpp activation.cpp pool.cpp lrn.cpp dropout.cpp flatten.cpp batchnorm.cpp
    softmax.cpp loss.cpp multi_tensor_layer.cpp add.cpp concat.cpp split.cpp layernorm.cpp gelu.cpp l2norm.cpp meanpool.cpp
    embedding.cpp attention.cpp)
set(DEFTNN_SOURCES_CUDA im2col.cu gemm_layer_kernels.cu kernels/relu_kernels.cu kernels/activation_kernels.cu kernels/pool_kernels.cu
    kernels/lrn_kernels.cu kernels/dropout_kernels.cu kernels/batchnorm_kernels.cu kernels/softmax_kernels.cu
    kernels/add_kernels.cu kernels/copy_rows_kernels.cu kernels/widen_kernels.cu
    kernels/transformer_kernels.cu kernels/attention_kernels.cu)
set(DEFTNN_SOURCES_NOCUDA layers_nocuda.cpp kernels/layer_kernels_nocuda.cpp
    kernels/transformer_kernels_nocuda.cpp kernels/attention_kernels_nocuda.cpp)
