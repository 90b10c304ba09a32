"""goldstar.present."""
