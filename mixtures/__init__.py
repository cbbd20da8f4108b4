"""mixtures package."""
