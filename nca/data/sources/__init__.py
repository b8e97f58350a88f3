"""Built-in dataset sources, one per file."""
