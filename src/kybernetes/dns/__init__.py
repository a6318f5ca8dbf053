"""dns: arrives with its issue."""
