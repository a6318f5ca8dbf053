"""kubelet: arrives with its issue."""
