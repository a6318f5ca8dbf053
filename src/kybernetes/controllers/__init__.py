"""controllers: arrives with its issue."""
