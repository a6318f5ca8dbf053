"""proxy: arrives with its issue."""
