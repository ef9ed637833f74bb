set(DEFTNN_SOURCES_CPU graph.cpp)
