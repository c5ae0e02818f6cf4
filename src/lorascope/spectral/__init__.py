"""Pure functions on tensors: SVD helpers, the intruder test, similarity maps, update ranks. No I/O."""
