set(DEFTNN_SOURCES_CPU variants.cpp frontier.cpp optimize.cpp)
