"""Directory services: the only code that changes directory state."""
