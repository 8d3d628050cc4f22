"""The pipeline's records and their writes: what every source shares once its items are parsed."""
