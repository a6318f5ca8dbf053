"""Object-agnostic machinery: errors, selectors, quantities, patches, names, time.

Nothing here knows a kind; everything works on the wire form (JSON-compatible dicts) or plain values.
"""
