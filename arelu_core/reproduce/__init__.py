"""Reproduce the paper (placeholder)."""
