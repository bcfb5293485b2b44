"""Interaction data for the models: loading, the authors' split, validation, training batches."""
