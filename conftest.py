"""Registers the kinkcheck plugin when the suite runs from a checkout.

When kinkcheck is installed its ``pytest11`` entry point registers the same module under the
same name, and pytest does not load it twice.
"""
pytest_plugins = ["kinkcheck.plugin", "pytester"]
