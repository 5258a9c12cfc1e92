"""The implementations under test: optimizer and activation subjects.

A subject is chosen from outside the suite, as DESIGN.md fixes it::

    --optimizer FAMILY=module:attr      (repeatable; or KINKCHECK_OPTIMIZERS="a=m:X,b=m:Y")
    --activation module:attr            (or KINKCHECK_ACTIVATION)

``attr`` of an optimizer spec is a callable ``(params, **hyperparameters) -> optimizer`` with
the ``torch.optim.Optimizer`` protocol. The family decides which theorems apply and which
hyperparameters (under torch.optim's names) the suite passes.

Fixed constructor arguments (ones the suite cannot guess: ``num_iterations``, ``num_data``, a
required mode) follow the target after ``?``, as ``name=value`` pairs separated by ``&``::

    --optimizer "generic=mylib:Ranger21?num_iterations=1000&use_softplus=False"
    --optimizer "adam=mylib:MyAdam?foo=(1, 2)&mode='fast'"

Each value is a Python literal read with ``ast.literal_eval`` (numbers, strings in quotes, tuples,
lists, dicts, True/False/None); commas inside brackets or quotes do not separate subjects in a
comma-separated list. The arguments are passed to every construction, after the suite's own. They
may not name an argument the suite passes for the family (``lr``, the family's drawn
hyperparameters, its fixed arguments and decay names: the theorems reason on the values they
pass); use family ``generic`` to hold such an argument fixed. One name is reserved and not passed:
``matrix_flag='use_muon'`` hands the parameters to the constructor as two parameter-group
dictionaries, the matrices (``ndim >= 2``) with ``{'use_muon': True}`` and the other tensors with
``{'use_muon': False}`` (Muon-style optimizers that flag which parameters are matrices). A spec
that breaks any of these rules is a usage error naming the problem.
"""
from __future__ import annotations

import ast
import functools
import importlib
import re
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from kinkcheck.harness.core.activations import Activation, under_test
from kinkcheck.harness.core.outcomes import NonFiniteError, NotSupported, SubjectError
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
    options: tuple = ()  # fixed constructor arguments from the spec, as (name, value) pairs
    matrix_flag: str | None = None  # pass matrices and other tensors as two flagged parameter groups

    def build(self, params, **hyperparameters):
        """Construct the optimizer; a failure names the subject and the hyperparameters.

        A hyperparameter the constructor does not take (by its signature, or by the TypeError it raises)
        is not the subject's failure: a neutral one (a decay of 0) is dropped, any other raises
        ``NotSupported`` (the check did not run, and the table says which hyperparameters)."""
        arguments = {**hyperparameters, **dict(self.options)}
        accepted = accepted_keywords(self.factory)
        if accepted is not None:
            unknown = {k for k in arguments if k not in accepted}
            for name in [k for k in unknown if k in DECAY_NAMES and arguments[k] == 0]:
                unknown.discard(name)
                del arguments[name]
            if unknown:
                raise NotSupported(self.label, unknown)
        try:
            return self.factory(self.groups(params), **arguments)
        except TypeError as exc:
            name = _unexpected_keyword(exc)
            if name is not None and name in arguments:
                raise NotSupported(self.label, [name]) from None
            raise SubjectError(f"optimizer {self.label} ({self.spec}) could not be constructed with "
                               f"hyperparameters {hyperparameters}: TypeError: {exc}") from exc
        except Exception as exc:  # the subject's own error, reported as a property failure
            raise SubjectError(
                f"optimizer {self.label} ({self.spec}) could not be constructed with "
                f"hyperparameters {hyperparameters}: {type(exc).__name__}: {exc}"
            ) from exc

    def groups(self, params):
        """The parameters as the constructor takes them (flagged groups when ``matrix_flag`` is set)."""
        if self.matrix_flag is None:
            return params
        params = list(params)
        matrices = [p for p in params if p.ndim >= 2]
        others = [p for p in params if p.ndim < 2]
        return [g for g in ({"params": matrices, self.matrix_flag: True},
                            {"params": others, self.matrix_flag: False}) if g["params"]]

    def __str__(self) -> str:
        return self.label

    @property
    def record(self) -> Family:
        return FAMILIES[self.family]

    def applies_to(self, marker_kwargs: dict) -> bool:
        """Whether a theorem marker (``families=``, ``capability=``) covers this subject's family."""
        return self.family in select(families=marker_kwargs.get("families"),
                                     capability=marker_kwargs.get("capability"))


def accepted_keywords(factory) -> set[str] | None:
    """The keyword arguments ``factory`` takes, or None when it takes any (``**kwargs``) or has no
    readable signature."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return None
    return {name for name, p in signature.parameters.items()
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}


def _unexpected_keyword(exc: TypeError) -> str | None:
    match = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
    return match.group(1) if match else None


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


def split_top_level(text: str, separator: str) -> list[str]:
    """Split at ``separator`` outside brackets and quotes (``betas=(0.9, 0.99)`` stays whole)."""
    parts, depth, quote, current = [], 0, None, []
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch == separator and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


RESERVED_OPTIONS = ("matrix_flag",)


def parse_options(text: str, spec: str, family: Family, factory) -> tuple[tuple, str | None]:
    """``name=value&name=value`` -> ((name, value), ...) and the matrix flag; SpecError naming the problem."""
    options, matrix_flag = [], None
    suite_names = {"lr", *family.hyperparameters, *family.fixed, *family.decay}
    try:
        signature = inspect.signature(factory)
        accepted = set(signature.parameters)
        any_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    except (TypeError, ValueError):
        accepted, any_keyword = set(), True
    seen = set()
    for item in split_top_level(text, "&"):
        name, sep, literal = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise SpecError(f"--optimizer {spec!r}: fixed argument {item.strip()!r} is malformed: expected "
                            f"name=value, e.g. {spec.partition('?')[0]}?num_iterations=1000")
        if not name.isidentifier():
            raise SpecError(f"--optimizer {spec!r}: {name!r} is not a valid argument name")
        if name in seen:
            raise SpecError(f"--optimizer {spec!r}: fixed argument {name!r} given twice")
        seen.add(name)
        try:
            value = ast.literal_eval(literal.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise SpecError(f"--optimizer {spec!r}: the value of {name!r}, {literal.strip()!r}, is not a Python "
                            f"literal (quote strings: {name}='text')") from None
        if name == "matrix_flag":
            if not isinstance(value, str) or not value.isidentifier():
                raise SpecError(f"--optimizer {spec!r}: matrix_flag must be a quoted group key, e.g. "
                                f"matrix_flag='use_muon'")
            matrix_flag = value
            continue
        if name in suite_names:
            raise SpecError(f"--optimizer {spec!r}: {name!r} is passed by the suite for family "
                            f"{family.name!r} (the theorems reason on the values they pass); fix only "
                            f"arguments the suite does not pass, or use family 'generic'")
        if not any_keyword and name not in accepted:
            raise SpecError(f"--optimizer {spec!r}: {getattr(factory, '__name__', factory)!s} takes no "
                            f"argument {name!r}")
        options.append((name, value))
    return tuple(options), matrix_flag


def parse_optimizer_spec(text: str) -> OptimizerSubject:
    """``FAMILY=module:attr[?name=value&...]`` -> OptimizerSubject, or SpecError naming the problem."""
    family, sep, target = text.strip().partition("=")
    family = family.strip().lower()
    if not sep or not family or not target.strip():
        raise SpecError(f"--optimizer {text!r} is malformed: expected FAMILY=module:attr, "
                        f"e.g. adam=mylib.optim:MyAdam. Valid families: {valid_families()}")
    if family not in FAMILIES:
        raise SpecError(f"--optimizer {text!r}: unknown family {family!r}. Valid families: {valid_families()}")
    target, query, fixed = target.strip().partition("?")
    factory = load_attr(target.strip(), "--optimizer")
    options, matrix_flag = (), None
    if query:
        if not fixed.strip():
            raise SpecError(f"--optimizer {text!r}: nothing after '?': expected name=value pairs joined by '&'")
        options, matrix_flag = parse_options(fixed, text.strip(), FAMILIES[family], factory)
    spec = target.strip() + (f"?{fixed.strip()}" if query else "")
    return OptimizerSubject(family, f"{family}={spec}", spec, factory, options=options, matrix_flag=matrix_flag)


def parse_optimizer_specs(specs: list[str]) -> list[OptimizerSubject]:
    items = [s for spec in specs for s in split_top_level(spec, ",") if s.strip()]
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
            raise NonFiniteError(f"optimizer {subject.label} ({subject.spec}) produced non-finite "
                               f"parameters {bad} {when}")
