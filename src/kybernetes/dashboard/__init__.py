"""dashboard: arrives with its issue."""
