"""misc package."""
