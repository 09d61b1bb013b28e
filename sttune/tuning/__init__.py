"""The study engine: run folders, storages and samplers, the study loop, trial records, rungs."""
