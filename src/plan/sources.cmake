set(DEFTNN_SOURCES_CPU exec_types.cpp exec_plan.cpp parse.cpp apply.cpp)
