"""The theorem properties: one module per theorem family of THEOREMS.md."""
