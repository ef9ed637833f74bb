if(DEFTNN_WITH_ONNX)
  set(DEFTNN_SOURCES_CPU onnx_export.cpp)
else()
  set(DEFTNN_SOURCES_CPU onnx_export_none.cpp)  # export_onnx says the build has no ONNX
endif()
