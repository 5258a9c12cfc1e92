"""Hypothesis strategies: networks, data, domains, losses, optimizer configurations."""
