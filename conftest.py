"""Registers the kinkcheck plugin when the suite runs from a checkout.

Installed, kinkcheck's ``pytest11`` entry point registers the plugin under the name ``kinkcheck``.
This conftest registers the same module under that name only when nothing has yet: not when the
entry point already did (pluggy refuses one module under two names), and not when the run blocks
it with ``-p no:kinkcheck`` (or the old name, ``-p no:kinkcheck.plugin``).
"""
pytest_plugins = ["pytester"]


def pytest_addhooks(pluginmanager):
    names = ("kinkcheck", "kinkcheck.plugin")
    if any(pluginmanager.is_blocked(n) or pluginmanager.has_plugin(n) for n in names):
        return
    import kinkcheck.plugin

    if not pluginmanager.is_registered(kinkcheck.plugin):
        pluginmanager.register(kinkcheck.plugin, "kinkcheck")
