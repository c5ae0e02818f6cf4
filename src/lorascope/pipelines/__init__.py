"""Pipelines wire the weights room and the spectral core into the jobs the CLI and notebooks run."""
