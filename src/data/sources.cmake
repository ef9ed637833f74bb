set(DEFTNN_SOURCES_CPU dataset.cpp loader.cpp tokenizer.cpp text_lines.cpp)
