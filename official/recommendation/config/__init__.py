"""Settings of a run: typed configs and named recipes (no TensorFlow)."""
