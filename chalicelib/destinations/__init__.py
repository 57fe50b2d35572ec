"""How segments leave rtdcs (destinations.md)."""
