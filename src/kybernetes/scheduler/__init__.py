"""scheduler: arrives with its issue."""
