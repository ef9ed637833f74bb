# The optimiser: optimize.cpp runs the stages in order, each in its own file.
set(DEFTNN_SOURCES_CPU
  variants.cpp finetune.cpp frontier.cpp result.cpp   # variants, fine-tuning, Pareto frontier, installing results
  granularity.cpp       # tap or channel elimination groups
  twins.cpp             # which twins are installed and jointly fine-tuned
  baseline.cpp          # stage: eligible layers, the dense net's measurements
  layer_options.cpp     # stage: per-layer variants and their twins
  round_timing.cpp      # stage: interleaved timing rounds
  composition.cpp       # stage: which compositions are measured
  joint.cpp             # stage: joint fine-tuning
  format_trials.cpp     # stage: fission format trials
  frontier_stage.cpp    # stage: frontier, twins, selection
  report.cpp            # stage: the report JSON
  optimize.cpp)
