"""goldstar.problem."""
