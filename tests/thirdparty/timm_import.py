"""Importing ``timm.optim`` without torchvision (a pytest plugin: ``-p tests.thirdparty.timm_import``).

``import timm.optim`` runs ``timm/__init__.py``, which imports ``timm.layers`` and ``timm.models``:
those import torchvision (``torchvision.ops.misc.FrozenBatchNorm2d``) and, through ``timm.data``,
PIL. PyPI's torchvision does not import beside the project's torch (2.13, CPU), and pip would try
to replace torch to install a matching one. The optimizers themselves (``timm/optim/*.py``) need
neither: the only import of ``timm.optim`` outside itself is ``from timm.models import
group_parameters`` in ``timm/optim/_param_groups.py`` (used by ``param_groups_layer_decay`` on a
timm model only).

So when ``import timm.optim`` fails for want of torchvision or PIL, :func:`install` registers
``timm`` as a bare package (its ``__init__.py`` not executed) and ``timm.models`` as a placeholder
whose ``group_parameters`` raises ``ImportError``; every ``timm.optim`` module is then imported
from the installed files, unchanged. With a working torchvision nothing is replaced.

Loaded as a pytest plugin (``-p``) it installs itself before the kinkcheck plugin resolves the
``--optimizer`` specs, which is how ``tests/thirdparty/gate.py`` runs timm subjects.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types

MODE = None  # "full" | "partial (no torchvision)" once install() ran


def _placeholder_group_parameters(*args, **kwargs):
    raise ImportError("timm.models is not imported (it needs torchvision): tests/thirdparty/timm_import.py "
                      "loads timm.optim alone")


def install() -> str:
    """Make ``import timm.optim`` work; returns how ("full" or "partial (no torchvision)")."""
    global MODE
    if MODE is not None:
        return MODE
    try:
        importlib.import_module("timm.optim")
        MODE = "full"
        return MODE
    except ModuleNotFoundError as e:
        if e.name is None or e.name.split(".")[0] not in ("torchvision", "PIL"):
            raise
    for name in [m for m in sys.modules if m == "timm" or m.startswith("timm.")]:
        del sys.modules[name]  # the half-imported package
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("timm is not installed", name="timm")
    package = types.ModuleType("timm")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    package.__file__ = spec.origin
    try:
        from importlib.metadata import version

        package.__version__ = version("timm")
    except Exception:  # pragma: no cover - metadata missing
        pass
    models = types.ModuleType("timm.models")
    models.group_parameters = _placeholder_group_parameters
    sys.modules["timm"] = package
    sys.modules["timm.models"] = models
    package.models = models
    importlib.import_module("timm.optim")
    MODE = "partial (no torchvision)"
    return MODE


try:  # as a pytest plugin (-p): before the specs are resolved
    install()
except ModuleNotFoundError:  # timm itself missing: the specs then fail as usual
    pass
