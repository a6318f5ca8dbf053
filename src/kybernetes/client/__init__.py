"""client: arrives with its issue."""
