"""goldstar.store."""
