"""The visitor's privacy routes: opt-out (/demoptout)."""
