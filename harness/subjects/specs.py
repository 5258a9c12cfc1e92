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

Two more reserved names declare how the subject differs from torch.optim's conventions, instead of
the suite assuming it:

- ``rename={'betas': ('beta1', 'beta2'), 'eps': 'epsilon', 'amsgrad': None}``: the constructor's
  names for the suite's hyperparameters. A string renames; a tuple splits a tuple-valued
  hyperparameter into one argument per entry; ``None`` never passes the name: for a family's fixed
  argument it says the subject has the family's value built in (an AMSGrad class without an
  ``amsgrad`` flag); for an optional hyperparameter it withholds it, and the subject is treated as a
  constructor that lacks the name (a wrapper that sets ``nesterov`` itself: pytorch-optimizer's
  MuonClip) -- n/s where a check needs the drawn value, the subject's own value where the claim holds
  for every value (``ANY_VALUE_THEOREMS``, recorded). A defining hyperparameter cannot be withheld
  (a usage error). Parameter groups and values written into ``param_groups`` between steps use the
  constructor's names too.
- ``decay_law='decoupled'`` (``coupled`` | ``decoupled`` | ``none``): how the subject's
  ``weight_decay`` acts; the family record gives the default (AdamW, Lion, Muon, Adafactor:
  decoupled; the other torch.optim families: coupled). T2's decay tests and T4's reference follow
  the declared law.
- ``coordinatewise=True``: the update of an entry depends on that entry's own history alone (as for
  torch.optim's elementwise families, whose records say so: ``Family.elementwise``). A user's subject is
  never assumed coordinatewise, whatever its family: T2 trains it on real layers (2-D weights, 1-D biases,
  one network per example); declared, it gets the faster batched layout (B networks in 3-D tensors).

A subject must take its family's *defining* hyperparameters (``Family.defining``: lr, betas for the
Adam family, momentum for momentum, ...), under the suite's names or renamed: one that cannot be
built with them at the start of the run is a usage error (exit 4) that names the hyperparameter and
the ``rename`` that would map it. A constructor that lacks an optional hyperparameter gets the
checks that need it reported as not supported (n/s).
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

from kinkcheck.harness.core import driving, guard
from kinkcheck.harness.core.activations import Activation, under_test
from kinkcheck.harness.core.outcomes import NonFiniteError, NotAnOptimizer, NotSupported, SubjectError
from kinkcheck.harness.core.records import figure, theorem_id
from kinkcheck.harness.subjects.syntax import split_top_level
from kinkcheck.harness.subjects.families import DECAY_LAWS, FAMILIES, SWITCH_OFF, Family, select, valid_families


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
    rename: tuple = ()  # (suite name, constructor name | tuple of names | None) pairs from the spec
    declared_decay_law: str | None = None  # the spec's decay_law (None: the family record's)
    declared_coordinatewise: bool = False  # the spec's coordinatewise=True
    skip_axes: tuple = ()  # (contract axis, reason) T4 leaves out: torch's fused kernels ignore layouts

    @property
    def decay_law(self) -> str:
        """coupled | decoupled | none: the spec's declaration, else the family record's."""
        return self.declared_decay_law or self.record.decay_law

    @property
    def coordinatewise(self) -> bool:
        """Declared coordinatewise: a built-in subject whose family record says so (``elementwise``), or a
        spec with ``coordinatewise=True``; never assumed for a user's subject (T2's batched layout)."""
        return self.declared_coordinatewise or (self.builtin and self.record.elementwise)

    def translate(self, hyperparameters: dict) -> dict:
        """The suite's hyperparameters under the constructor's names (``rename``): what is passed to the
        constructor, put in a parameter group or written into ``param_groups``."""
        mapping = dict(self.rename)
        out = {}
        for name, value in hyperparameters.items():
            target = mapping.get(name, name)
            if target is None:
                continue
            if isinstance(target, tuple):
                out.update(zip(target, value))
            else:
                out[target] = value
        return out

    def constructor_names(self, name: str) -> tuple[str, ...]:
        """The constructor's argument names for the suite's hyperparameter ``name`` (empty: not passed)."""
        target = dict(self.rename).get(name, name)
        return () if target is None else target if isinstance(target, tuple) else (target,)

    @property
    def withheld(self) -> frozenset[str]:
        """Optional hyperparameters the spec never passes (``rename={name: None}`` for a name that is not
        one of the family's fixed arguments): the subject is treated as a constructor that lacks them."""
        return frozenset(name for name, target in self.rename if target is None and name not in self.record.fixed)

    def lacks(self, name: str, accepted: set[str] | None) -> bool:
        """Whether the constructor does not take the suite's hyperparameter ``name``: withheld by the spec,
        or (``accepted``: its keyword arguments, None when it takes any) absent from its signature."""
        if name in self.withheld:
            return True
        return accepted is not None and any(n not in accepted for n in self.constructor_names(name))

    def build(self, params, **hyperparameters):
        """Construct the optimizer through the guarded path (``kinkcheck.harness.core.guard``).

        A hyperparameter the constructor does not take (by its signature, by the TypeError it raises
        naming it, or withheld by the spec: ``rename={name: None}``) is not the subject's failure: one at
        its off position (``SWITCH_OFF``: a decay of 0, maximize=False) is dropped -- a constructor
        without it implements the off position --; in the theorems whose claim holds for every value
        (``ANY_VALUE_THEOREMS``) any other but a decay runs at the subject's own value (recorded as a
        figure); elsewhere it raises ``NotSupported`` (the check did not run, and the table says which
        hyperparameters).
        Everything the suite prepares (parameter groups, renamed arguments) is done before the guarded
        call, so that an error there is the suite's."""
        suite_args = dict(hyperparameters)
        accepted = accepted_keywords(self.factory)
        unknown = {k for k in suite_args if self.lacks(k, accepted)}
        if unknown:
            for name in [k for k in unknown if k in SWITCH_OFF and suite_args[k] == SWITCH_OFF[k]]:
                unknown.discard(name)
                del suite_args[name]
            # a value (eps, ...) or a switch drawn on (nesterov, centered) the constructor lacks; not a decay:
            # decay is what the theorems' hypothesis excludes and their decay tests set
            own = sorted(unknown - set(self.record.defining) - HYPOTHESIS_NAMES)
            if own and theorem_id().split("(")[0] in ANY_VALUE_THEOREMS:
                for name in own:  # the claim holds for every value: the subject's own is as good as the draw
                    unknown.discard(name)
                    del suite_args[name]
                figure("hyperparameters at the subject's own value (constructor lacks them)", ", ".join(own))
            if unknown:
                raise NotSupported(self.label, unknown)
        arguments = {**self.translate(suite_args), **dict(self.options)}
        groups = self.groups(params)
        what = f"construction with hyperparameters {hyperparameters}"
        try:
            optimizer = guard.call(self, what, self.factory, groups, **arguments)
        except SubjectError as exc:
            cause = exc.__cause__
            name = _unexpected_keyword(cause) if isinstance(cause, TypeError) else None
            if name is not None and name in arguments:
                raise NotSupported(self.label, [_suite_name(self, name)]) from None
            raise
        missing = [a for a in ("step", "zero_grad", "param_groups") if not hasattr(optimizer, a)]
        if missing:
            raise NotAnOptimizer(f"{self.label} ({self.spec}) built {type(optimizer).__name__}, which has no "
                                 f"{', '.join(missing)}: not a torch.optim.Optimizer-style optimizer")
        driving.enter_train_mode(optimizer, self)  # schedule-free optimizers step only in train mode
        return optimizer

    def groups(self, params):
        """The parameters as the constructor takes them: parameter-group dictionaries with the
        constructor's names (``rename``), flagged groups when ``matrix_flag`` is set."""
        params = list(params)
        if params and isinstance(params[0], dict):
            params = [{"params": g["params"], **self.translate({k: v for k, v in g.items() if k != "params"})}
                      for g in params]
        if self.matrix_flag is None:
            return params
        if params and isinstance(params[0], dict):
            return [{**g, self.matrix_flag: all(p.ndim >= 2 for p in g["params"])} for g in params]
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
        """Whether a theorem marker (``families=``, ``capability=``, ``decay_law=``) covers this subject."""
        if self.family not in select(families=marker_kwargs.get("families"),
                                     capability=marker_kwargs.get("capability")):
            return False
        laws = marker_kwargs.get("decay_law")
        return laws is None or self.decay_law in ((laws,) if isinstance(laws, str) else tuple(laws))


# Theorems whose claims hold for every value of an optional hyperparameter in the family's range (a
# zero-gradient coordinate never moves whatever eps > 0 is, with nesterov on or off): a constructor that
# lacks one (a fixed eps of its own, a nesterov it sets itself, a name the spec withholds) is run with its
# own value there, and the record says so. Everywhere else -- T4's recursions,
# T9/T11/T12's formulas -- the value matters, and a check that needs it is reported as not supported.
ANY_VALUE_THEOREMS = frozenset({"T2", "T3", "T5", "T6"})
# What those theorems' hypothesis is about (no decay) and their decay tests set: never run at a value the
# suite did not choose, even for a withheld name.
HYPOTHESIS_NAMES = frozenset({name for f in FAMILIES.values() for name in f.decay} | {"decoupled_weight_decay"})


def _suite_name(subject: OptimizerSubject, constructor_name: str) -> str:
    for name, target in subject.rename:
        if constructor_name == target or (isinstance(target, tuple) and constructor_name in target):
            return name
    return constructor_name


def check_defining(subject: OptimizerSubject, *, source: str = "--optimizer") -> None:
    """At the start of a run: the subject can be built with its family's defining hyperparameters
    (and fixed arguments) and builds a torch.optim-style optimizer; otherwise a ``SpecError`` (a usage
    error, exit 4) that names the hyperparameter and the mapping that would fix it."""
    record = subject.record
    values = record.defining_values()
    p = torch.zeros(4, 4, dtype=torch.float64, requires_grad=True)  # 2-D: matrix-only families take it
    try:
        subject.build([p], **values)
    except NotSupported as exc:
        names = ", ".join(repr(n) for n in exc.names)
        example = {"betas": "('beta1', 'beta2')"}.get(exc.names[0], "'their_name'")
        raise SpecError(
            f"{source} {subject.label}: cannot be built with the defining hyperparameter(s) {names} of family "
            f"{record.name}: the constructor does not take them. If it takes them under other names, map them in "
            f"the spec: {subject.label.partition('?')[0]}?rename={{{exc.names[0]!r}: {example}}} (a tuple splits a "
            f"pair; None: built in, not passed); if it implements another recursion, choose its family "
            f"(valid: {valid_families()}; 'generic' passes only lr)") from None
    except NotAnOptimizer as exc:
        built = exc.args[0].split(" built ", 1)[-1]
        raise SpecError(f"{source} {subject.label}: it built {built} (derive it from torch.optim.Optimizer, or give "
                        f"it step, zero_grad and param_groups)") from None
    except SubjectError as exc:
        raise SpecError(f"{source} {subject.label}: construction with the defining hyperparameters of family "
                        f"{record.name}, {values}, fails: {exc.__cause__ or exc}") from None


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


RESERVED_OPTIONS = ("matrix_flag", "rename", "decay_law", "coordinatewise")


def parse_options(text: str, spec: str, family: Family, factory) -> dict:
    """``name=value&name=value`` -> {"options": ((name, value), ...), "matrix_flag", "rename",
    "declared_decay_law", "declared_coordinatewise"}; SpecError naming the problem."""
    options, matrix_flag, rename, decay_law, coordinatewise = [], None, (), None, False
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
        if name == "rename":
            rename = _parse_rename(value, spec, family)
            continue
        if name == "decay_law":
            if value not in DECAY_LAWS:
                raise SpecError(f"--optimizer {spec!r}: decay_law must be one of {', '.join(map(repr, DECAY_LAWS))}, "
                                f"got {value!r}")
            decay_law = value
            continue
        if name == "coordinatewise":
            if not isinstance(value, bool):
                raise SpecError(f"--optimizer {spec!r}: coordinatewise must be True or False, got {value!r}")
            coordinatewise = value
            continue
        if name in suite_names:
            raise SpecError(f"--optimizer {spec!r}: {name!r} is passed by the suite for family "
                            f"{family.name!r} (the theorems reason on the values they pass); fix only "
                            f"arguments the suite does not pass, or use family 'generic'")
        if not any_keyword and name not in accepted:
            raise SpecError(f"--optimizer {spec!r}: {getattr(factory, '__name__', factory)!s} takes no "
                            f"argument {name!r}")
        options.append((name, value))
    return dict(options=tuple(options), matrix_flag=matrix_flag, rename=rename, declared_decay_law=decay_law,
                declared_coordinatewise=coordinatewise)


def _parse_rename(value, spec: str, family: Family) -> tuple:
    """``{'betas': ('beta1', 'beta2'), 'eps': 'epsilon', 'amsgrad': None}`` -> sorted pairs; SpecError."""
    example = "rename={'betas': ('beta1', 'beta2')}"
    if not isinstance(value, dict) or not value:
        raise SpecError(f"--optimizer {spec!r}: rename must be a non-empty dict of the suite's names to the "
                        f"constructor's, e.g. {example}")
    known = {"lr", *family.contract_space(), *family.fixed, *family.decay}
    pairs = []
    for name, target in value.items():
        if name not in known:
            raise SpecError(f"--optimizer {spec!r}: rename names {name!r}, which the suite does not pass for family "
                            f"{family.name!r} (it passes: {', '.join(sorted(known))})")
        ok = target is None or (isinstance(target, str) and target.isidentifier()) or (
            isinstance(target, tuple) and target and all(isinstance(t, str) and t.isidentifier() for t in target))
        if not ok:
            raise SpecError(f"--optimizer {spec!r}: rename[{name!r}] must be an argument name, a tuple of names "
                            f"(one per entry of a pair) or None (never passed: built in, or withheld), e.g. {example}")
        if target is None and name in family.defining and name not in family.fixed:
            raise SpecError(f"--optimizer {spec!r}: rename[{name!r}] = None would withhold {name!r}, which defines "
                            f"family {family.name!r} (defining: {', '.join(family.defining)}): every subject of "
                            f"the family must take it. Map it to the constructor's name "
                            f"(rename={{{name!r}: 'their_name'}}), or choose the family whose recursion the "
                            f"subject implements ('generic' passes only lr)")
        pairs.append((name, target))
    return tuple(sorted(pairs, key=lambda kv: kv[0]))


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
    parsed = {}
    if query:
        if not fixed.strip():
            raise SpecError(f"--optimizer {text!r}: nothing after '?': expected name=value pairs joined by '&'")
        parsed = parse_options(fixed, text.strip(), FAMILIES[family], factory)
    spec = target.strip() + (f"?{fixed.strip()}" if query else "")
    return OptimizerSubject(family, f"{family}={spec}", spec, factory, **parsed)


def parse_optimizer_specs(specs: list[str]) -> list[OptimizerSubject]:
    items = [s for spec in specs for s in split_top_level(spec, ",") if s.strip()]
    subjects = [parse_optimizer_spec(s) for s in items]
    labels = [s.label for s in subjects]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise SpecError(f"--optimizer given twice: {', '.join(dupes)}")
    for subject in subjects:
        check_defining(subject)
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


_LAYOUTS = ("layouts", "torch 2.13's fused CPU kernels ignore memory layout: a non-contiguous parameter, or a "
                       "gradient whose strides differ from its parameter's, gets wrong iterates "
                       "(docs/torch-deviations/fused_cpu_layouts.py)")
_LATE = ("late first gradient", "torch 2.13's fused SGD with momentum raises when a parameter first gets a gradient "
                                "after step 1 (docs/torch-deviations/fused_sgd_momentum_late_parameter.py)")
# The contract axes T4 leaves out for torch's own fused paths (diagnosed deviations, each with a script that
# reproduces it without kinkcheck); every other axis of the contract runs on them.
# T4's usage axes that torch's own fused and foreach paths refuse by design (they raise; torch documents it):
# fused=True takes floating-point parameters only and "`fused` does not support `differentiable`"; foreach=True
# raises "_foreach ops don't support autograd" with differentiable=True, and Adam/AdamW "lr as a Tensor is not
# supported for capturable=False and foreach=True" (likewise tensor betas).
_COMPLEX = ("complex parameters", "torch 2.13's fused kernels take floating-point parameters only (raises)")
_DIFF_FUSED = ("differentiable", "torch 2.13: `fused` does not support `differentiable` (raises)")
_DIFF_FOREACH = ("differentiable", "torch 2.13: _foreach ops don't support autograd (raises)")
_TENSOR_FOREACH = ("tensor hyperparameters", "torch 2.13's Adam/AdamW: a tensor lr or betas is not supported for "
                                             "capturable=False and foreach=True (raises)")
_SPARSE_FUSED = ("sparse gradients", "torch 2.13's fused kernels refuse sparse gradients (raises: `fused` does not "
                                     "support sparse grad); the for-loop and foreach paths take them")
FUSED_AXES = {"*": (_LAYOUTS, _COMPLEX, _DIFF_FUSED, _SPARSE_FUSED),
              "momentum": (_LAYOUTS, _LATE, _COMPLEX, _DIFF_FUSED, _SPARSE_FUSED),
              "nesterov": (_LAYOUTS, _LATE, _COMPLEX, _DIFF_FUSED, _SPARSE_FUSED)}
FOREACH_AXES = {"*": (_DIFF_FOREACH,), **{f: (_DIFF_FOREACH, _TENSOR_FOREACH) for f in ("adam", "amsgrad", "adamw")}}


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
            skip = (FUSED_AXES.get(fam.name, FUSED_AXES["*"]) if impl == "fused" else
                    FOREACH_AXES.get(fam.name, FOREACH_AXES["*"]) if impl == "foreach" else ())
            subjects.append(OptimizerSubject(fam.name, label, f"torch.optim:{fam.torch_class}", factory, True,
                                             skip_axes=skip))
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
