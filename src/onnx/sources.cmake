if(DEFTNN_WITH_ONNX)
  set(DEFTNN_SOURCES_CPU onnx_import.cpp onnx_tensor.cpp)
else()
  set(DEFTNN_SOURCES_CPU onnx_none.cpp)  # import_onnx says the build has no ONNX
endif()
