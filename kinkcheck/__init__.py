"""kinkcheck: published theorems about ReLU kinks and non-convergence, as Hypothesis properties."""

__version__ = "0.1.0"
