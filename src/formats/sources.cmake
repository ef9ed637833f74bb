set(DEFTNN_SOURCES_CPU format.cpp)
