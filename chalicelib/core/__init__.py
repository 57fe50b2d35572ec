"""Building blocks with no dependencies, shared by every subsystem."""
