"""The implementations under test: optimizer and activation subjects.

A subject is chosen from outside the suite, as DESIGN.md fixes it::

    --optimizer FAMILY=module:attr      (repeatable; or KINKCHECK_OPTIMIZERS="a=m:X,b=m:Y")
    --activation module:attr            (or KINKCHECK_ACTIVATION)

``attr`` of an optimizer spec is a callable ``(params, **hyperparameters) -> optimizer`` with
the ``torch.optim.Optimizer`` protocol. The family decides which theorems apply and which
hyperparameters (under torch.optim's names) the suite passes.
"""
from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from kinkcheck.harness.core.activations import Activation, under_test
from kinkcheck.harness.core.outcomes import SubjectError
from kinkcheck.harness.subjects.families import FAMILIES, Family, select, valid_families


class SpecError(ValueError):
    """A malformed or unloadable subject specification (turned into pytest.UsageError)."""


IMPLEMENTATIONS = ("forloop", "foreach", "fused")


@dataclass(frozen=True)
class OptimizerSubject:
    """One optimizer implementation under test, bound to a family."""

    family: str
    label: str  # readable pytest id, e.g. "adam[foreach]" or "adam=mylib.optim:MyAdam"
    spec: str  # where it comes from, e.g. "torch.optim:Adam"
    factory: Callable[..., Any] = field(compare=False, repr=False)
    builtin: bool = False

    def build(self, params, **hyperparameters):
        """Construct the optimizer; a failure names the subject and the hyperparameters."""
        try:
            return self.factory(params, **hyperparameters)
        except Exception as exc:  # the subject's own error, reported as a property failure
            raise SubjectError(
                f"optimizer {self.label} ({self.spec}) could not be constructed with "
                f"hyperparameters {hyperparameters}: {type(exc).__name__}: {exc}"
            ) from exc

    def __str__(self) -> str:
        return self.label

    @property
    def record(self) -> Family:
        return FAMILIES[self.family]

    def applies_to(self, marker_kwargs: dict) -> bool:
        """Whether a theorem marker (``families=``, ``capability=``) covers this subject's family."""
        return self.family in select(families=marker_kwargs.get("families"),
                                     capability=marker_kwargs.get("capability"))


def load_attr(spec: str, what: str) -> Any:
    """Import ``module:attr`` (attr may be dotted); errors name the spec."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name.strip() or not attr.strip():
        raise SpecError(f"{what} {spec!r} is malformed: expected 'module:attr', e.g. 'torch.optim:Adam'")
    try:
        obj = importlib.import_module(module_name.strip())
    except Exception as exc:
        raise SpecError(f"{what} {spec!r}: cannot import module {module_name!r}: "
                        f"{type(exc).__name__}: {exc}") from None
    for part in attr.strip().split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise SpecError(f"{what} {spec!r}: module {module_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise SpecError(f"{what} {spec!r}: {attr!r} is not callable")
    return obj


def parse_optimizer_spec(text: str) -> OptimizerSubject:
    """``FAMILY=module:attr`` -> OptimizerSubject, or SpecError naming the problem."""
    family, sep, target = text.strip().partition("=")
    family = family.strip().lower()
    if not sep or not family or not target.strip():
        raise SpecError(f"--optimizer {text!r} is malformed: expected FAMILY=module:attr, "
                        f"e.g. adam=mylib.optim:MyAdam. Valid families: {valid_families()}")
    if family not in FAMILIES:
        raise SpecError(f"--optimizer {text!r}: unknown family {family!r}. Valid families: {valid_families()}")
    factory = load_attr(target.strip(), "--optimizer")
    return OptimizerSubject(family, f"{family}={target.strip()}", target.strip(), factory)


def parse_optimizer_specs(specs: list[str]) -> list[OptimizerSubject]:
    items = [s for spec in specs for s in spec.split(",") if s.strip()]
    subjects = [parse_optimizer_spec(s) for s in items]
    labels = [s.label for s in subjects]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise SpecError(f"--optimizer given twice: {', '.join(dupes)}")
    return subjects


def parse_activation_spec(text: str | None) -> Activation:
    """``module:attr`` -> the activation under test (default ``torch.relu``)."""
    if not text or not text.strip():
        return under_test(torch.relu, "torch:relu")
    return under_test(load_attr(text.strip(), "--activation"), text.strip())


def _supports(cls, impl: str, device: torch.device, dtype: torch.dtype) -> bool:
    """Probe whether torch.optim offers ``impl`` for ``cls`` on this device and dtype."""
    kwargs = {"forloop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[impl]
    p = torch.zeros(2, 2, dtype=dtype, device=device, requires_grad=True)
    try:
        opt = cls([p], **kwargs)
        p.grad = torch.ones_like(p)
        opt.step()
    except (TypeError, RuntimeError, ValueError, NotImplementedError):
        return False
    return True


def builtin_subjects(device: torch.device, dtype: torch.dtype) -> list[OptimizerSubject]:
    """Every torch.optim optimizer, in every implementation it offers here, mapped to families."""
    subjects = []
    for fam in FAMILIES.values():
        if fam.torch_class is None:
            continue
        cls = getattr(torch.optim, fam.torch_class, None)
        if cls is None:  # an older torch without this optimizer
            continue
        impls = [i for i in IMPLEMENTATIONS if _supports(cls, i, device, dtype)]
        for impl in impls or ["default"]:
            kwargs = {"forloop": {"foreach": False}, "foreach": {"foreach": True},
                      "fused": {"fused": True}, "default": {}}[impl]
            label = fam.name if impl == "default" else f"{fam.name}[{impl}]"
            factory = functools.partial(cls, **kwargs) if kwargs else cls
            subjects.append(OptimizerSubject(fam.name, label, f"torch.optim:{fam.torch_class}", factory, True))
    return subjects


DECAY_NAMES = tuple(sorted({name for f in FAMILIES.values() for name in f.decay}))


def out_of_scope_reason(optimizer) -> str | None:
    """Why T2/T3's hypothesis fails for this configured optimizer (decay), or None.

    Read from the optimizer's own ``param_groups`` so that defaults the suite did not pass
    (AdamW's weight_decay=0.01, ASGD's lambd=1e-4, a third-party default) are seen too.
    """
    for group in getattr(optimizer, "param_groups", []):
        for name in DECAY_NAMES:
            value = group.get(name, 0)
            if isinstance(value, (int, float)) and value > 0:
                return f"{name}={value} > 0 moves zero-gradient coordinates (out of scope of the theorem)"
    return None


def check_finite(subject: OptimizerSubject, tensors, when: str) -> None:
    """One fused check (a single host sync) in the common case; details only on failure."""
    tensors = [t.detach() for t in tensors]
    if bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()):
        return
    for t in tensors:
        if not bool(torch.isfinite(t).all()):
            bad = t[~torch.isfinite(t)].flatten()[:3].tolist()
            raise SubjectError(f"optimizer {subject.label} ({subject.spec}) produced non-finite "
                               f"parameters {bad} {when}")
