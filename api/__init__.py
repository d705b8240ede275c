"""Kansenkaart Flexwonen service: authenticated, municipality-scoped access to the scan result."""
