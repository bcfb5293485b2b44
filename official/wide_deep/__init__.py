"""wide_deep package."""
