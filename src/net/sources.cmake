set(DEFTNN_SOURCES_CPU net.cpp safetensors.cpp bert.cpp bert_sve.cpp npy.cpp)
