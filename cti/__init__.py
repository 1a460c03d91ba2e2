"""Adapters and the running engine: everything that touches the world."""
