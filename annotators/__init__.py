"""annotators package."""
