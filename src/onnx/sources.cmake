set(DEFTNN_SOURCES_CPU onnx_import.cpp onnx_tensor.cpp)
