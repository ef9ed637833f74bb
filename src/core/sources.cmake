set(DEFTNN_SOURCES_CPU error.cpp dtype.cpp context.cpp tensor.cpp timing.cpp input_file.cpp output_file.cpp env.cpp)
