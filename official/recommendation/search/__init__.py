"""`ncf_main --model auto`: the best model family and settings for the data, on validation."""
