"""What a trained model becomes: the SavedModel export, fold-in, the HTTP protocol."""
