set(DEFTNN_SOURCES_CPU sve_state.cpp)
