"""The visitor's privacy routes (opt-out, /demoptout) and the privacy-decision counters."""
