"""Deliberately broken subjects: each theorem must reject at least one of them."""
