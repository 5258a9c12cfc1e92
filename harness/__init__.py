"""Shared, device-agnostic machinery of the kinkcheck suite (see DESIGN.md)."""
