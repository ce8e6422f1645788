"""Pure domain code: parsing, modelling, detection, synthetic data, evaluation, plots."""
