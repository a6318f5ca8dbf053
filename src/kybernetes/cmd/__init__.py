"""Thin entry points: parse flags, build the component, run it."""
