set(DEFTNN_SOURCES_CPU lr_policy.cpp sgd.cpp progress.cpp trainer.cpp prepare.cpp distill.cpp adam.cpp embed_distill.cpp)
set(DEFTNN_SOURCES_CUDA sgd.cu distill.cu)
set(DEFTNN_SOURCES_NOCUDA sgd_nocuda.cpp distill_nocuda.cpp)
