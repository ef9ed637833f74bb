set(DEFTNN_SOURCES_CPU net.cpp safetensors.cpp bert.cpp npy.cpp)
