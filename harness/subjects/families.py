"""One declarative record per optimizer family: every fact the suite uses about a family lives here.

In the spirit of PyTorch's ``OptimizerInfo``: the torch.optim class, the hyperparameters the suite
draws (under torch.optim's names) with their valid ranges *inside the theorems' hypotheses*, the
fixed arguments that define the family (``nesterov=True``), the decay hyperparameters that take a
configuration *outside* T2/T3's hypotheses and the values tried there, whether the family keeps
per-coordinate state, needs a closure, takes only matrices, is elementwise, which reference
recursion (``kinkcheck.harness.oracles.recursions``) it must match, and its known limits with
reasons. ``contract`` holds the rest of what a user can configure (``maximize``, ``amsgrad``,
``decoupled_weight_decay``, decay, ...): T4 draws ``hyperparameters`` and ``contract`` together, the
other theorems only ``hyperparameters``; ``schedulable`` names what an LR scheduler changes between
steps through ``param_groups``; ``not_drawn`` says, per constructor argument the suite never draws,
why. A self-test checks the records against ``inspect.signature`` of each torch.optim class: every
name here is accepted, and every constructor argument is drawn, fixed, or ``not_drawn`` with a reason.
Records are data: no Hypothesis here (``kinkcheck.strategies.optimizers`` turns the ranges
into strategies) and no theorem logic (theorem markers select families by capability).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Choice:
    """A hyperparameter drawn from a finite list of values."""

    values: tuple


@dataclass(frozen=True)
class Interval:
    """A float hyperparameter drawn from [low, high]."""

    low: float
    high: float


@dataclass(frozen=True)
class Integers:
    low: int
    high: int


@dataclass(frozen=True)
class Pair:
    """A pair hyperparameter (``betas``) whose two entries are drawn independently."""

    first: Choice
    second: Choice


LR = Interval(1e-4, 0.5)
SMALL_LR = Interval(1e-4, 0.05)
BETAS = Pair(Choice((0.0, 0.5, 0.9, 0.99)), Choice((0.5, 0.9, 0.99, 0.999)))
EPS = Choice((1e-8, 1e-6, 1e-3, 0.1))
DECAYS = (1e-3, 1e-2, 0.1)
FLAG = Choice((False, True))
WEIGHT_DECAY = Choice((0.0, 1e-2, 0.1))
# torch.optim arguments that choose an implementation path, not the recursion: the built-in subjects
# are one per path (adam[forloop], adam[foreach], adam[fused]); capturable needs a CUDA/XLA device
# (CUDA graphs) and differentiable makes step() differentiable for meta-learning, neither changes the
# iterates; they are never drawn.
IMPLEMENTATION_FLAGS = ("foreach", "fused", "capturable", "differentiable")


@dataclass(frozen=True)
class Family:
    name: str
    summary: str
    torch_class: str | None  # torch.optim class of the built-in subject (None: no built-in)
    hyperparameters: dict = field(default_factory=dict)  # name -> Choice | Interval | Integers | Pair
    fixed: dict = field(default_factory=dict)  # arguments that make the family (nesterov=True, ...)
    decay: tuple[str, ...] = ("weight_decay",)  # hyperparameters that move zero-gradient coordinates
    stateful: bool = True  # keeps per-coordinate buffers
    needs_closure: bool = False  # step(closure) re-evaluates the loss
    matrices_only: bool = False  # takes 2-D parameters only
    elementwise: bool = True  # a coordinate's update depends on that coordinate's history only
    reference: str | None = None  # class in kinkcheck.harness.oracles.recursions
    eps_free: bool = False  # its update is scale invariant when eps = 0 ([CUT] Prop B.5)
    decays_by_default: bool = False  # torch's default arguments already decay (AdamW 0.01, ASGD lambd 1e-4)
    limits: tuple[tuple[str, str], ...] = ()  # (what, why) the suite cannot check
    contract: dict = field(default_factory=dict)  # further hyperparameters T4 draws (name -> range)
    schedulable: tuple[str, ...] = ("lr",)  # what a scheduler changes between steps (param_groups)
    not_drawn: tuple[tuple[str, str], ...] = ()  # (constructor argument, why the suite never draws it)
    takes_empty: bool = True  # accepts parameters with no elements (T4 draws them only then)
    constructor_only: tuple[tuple[str, str], ...] = ()  # (hyperparameter read from the constructor only, why)
    amplifies_rounding: bool = False  # its update magnifies input rounding (no low-precision rounding bound)
    defining: tuple[str, ...] = ("lr",)  # a subject of the family must take these (else a usage error)
    decay_law: str = "coupled"  # how weight_decay acts: coupled (L2 in g) | decoupled (theta *= 1 - lr wd) | none
    # T4's usage axes (issue #20 item 1), each decided from torch.optim's class for the family (2.13): a subject
    # is held to an axis its family's torch class supports (raising there is its FAIL), never to one it does not
    complex_parameters: bool = False  # steps a complex parameter as its view_as_real pair
    tensor_hyperparameters: tuple[str, ...] = ()  # constructor arguments it takes as 0-d tensors (documented)
    differentiable: bool = False  # takes differentiable=True (step() differentiable through autograd)
    # the iterate is linear in the gradients, every coefficient of one sign once weight_decay's is flipped
    # (lr, momentum, 1 - dampening >= 0): T4 compares the VALUE of d theta_K / d g_1 through differentiable=True
    linear_in_gradients: bool = False

    # --- capabilities read by theorem markers
    @property
    def takes_any_shape(self) -> bool:
        """Takes parameters of any shape (the batched 3-D networks of T2/T5/T6, T3's tensors)."""
        return not self.matrices_only

    @property
    def steps_without_closure(self) -> bool:
        """``step()`` works without a closure (torch.amp.GradScaler refuses closures)."""
        return not self.needs_closure

    @property
    def takes_weight_decay(self) -> bool:
        return "weight_decay" in self.decay

    @property
    def has_reference(self) -> bool:
        return self.reference is not None

    @property
    def rounding_bounded(self) -> bool:
        """T4's low-precision bound applies: a reference, and an update that does not amplify rounding."""
        return self.has_reference and not self.amplifies_rounding

    def draws(self) -> dict:
        """Hyperparameters to draw inside the theorems' hypotheses, decay excluded."""
        return dict(self.hyperparameters)

    def contract_space(self) -> dict:
        """Every hyperparameter T4 draws, with its valid range (the theorems' draws plus ``contract``)."""
        return {**self.hyperparameters, **self.contract}

    def defining_values(self) -> dict:
        """One valid value of each defining hyperparameter (the first of its range), and the fixed
        arguments: what a subject of the family must accept at construction."""
        out = {}
        for name in self.defining:
            space = self.contract_space().get(name)
            out[name] = _first(space) if space is not None else self.fixed.get(name)
        return {**out, **self.fixed}

    def in_scope(self) -> dict:
        """The decay arguments that keep a configuration inside T2/T3's hypotheses."""
        return {name: 0.0 for name in self.decay}


def _first(space):
    if isinstance(space, Choice):
        return space.values[0]
    if isinstance(space, (Interval, Integers)):
        return space.low
    if isinstance(space, Pair):
        return (space.first.values[0], space.second.values[0])
    raise TypeError(f"unknown hyperparameter range {space!r}")


DECAY_LAWS = ("coupled", "decoupled", "none")
# Hyperparameters that switch a behaviour on, with the value that switches it off. A constructor that
# does not take one of these implements its off position (an optimizer without ``maximize`` minimises,
# one without ``weight_decay`` does not decay): the suite then runs and compares the off position only,
# and the cases that would switch it on are reported as not supported. Every other hyperparameter
# (eps, betas, alpha, ...) has no neutral value: a constructor without it uses a value of its own that
# the suite does not know, and the checks that depend on it do not run (n/s).
SWITCH_OFF = {"maximize": False, "amsgrad": False, "decoupled_weight_decay": False, "weight_decay": 0.0,
              "lambd": 0.0, "centered": False, "dampening": 0.0, "lr_decay": 0.0, "initial_accumulator_value": 0.0,
              "nesterov": False, "line_search_fn": None}


_ADAM = dict(lr=SMALL_LR, betas=BETAS, eps=EPS)
_MAX = dict(maximize=FLAG)
_WD = dict(weight_decay=WEIGHT_DECAY, maximize=FLAG)
# What torch.optim 2.13's classes take on T4's usage axes (probed and read in their source): complex parameters
# as view_as_real pairs (every class but Adafactor, Muon and LBFGS, which raise "does not support complex
# parameters"); a 0-d tensor lr (documented "lr (float, Tensor)" for every class but Rprop and LBFGS), tensor
# betas and weight_decay in Adam/AdamW (adam.py: "betas (tuple[float | Tensor, float | Tensor])", and its
# differentiable branch for a tensor weight_decay); differentiable=True on the for-loop path.
_TORCH_AXES = dict(complex_parameters=True, tensor_hyperparameters=("lr",), differentiable=True)
_ADAM_AXES = dict(_TORCH_AXES, tensor_hyperparameters=("lr", "betas", "weight_decay"))
# Every value torch.optim re-reads from param_groups at each step (its step() passes group[...] to the
# functional update): what a scheduler or a user may rewrite between steps. Flags (maximize, amsgrad,
# centered) are not rewritten: torch allocates their state only when they are on at a parameter's first step.
_ADAM_SCHEDULED = ("lr", "betas", "eps", "weight_decay")
_SGD_NOT_DRAWN = (("momentum", "fixed at 0: heavy ball is the momentum family"),
                  ("dampening", "acts only with momentum (the momentum family)"),
                  ("nesterov", "the nesterov family"))

FAMILIES: dict[str, Family] = {f.name: f for f in [
    Family("sgd", "plain gradient descent", "SGD", dict(lr=LR), stateful=False, reference="SGD",
           contract=dict(_WD), not_drawn=_SGD_NOT_DRAWN, schedulable=("lr", "weight_decay"), linear_in_gradients=True,
           **_TORCH_AXES),
    Family("momentum", "heavy-ball SGD (momentum, dampening)", "SGD",
           dict(lr=SMALL_LR, momentum=Choice((0.5, 0.9, 0.99)), dampening=Choice((0.0, 0.1, 0.5))),
           reference="SGD", contract=dict(_WD), schedulable=("lr", "momentum", "dampening", "weight_decay"),
           defining=("lr", "momentum"), not_drawn=(("nesterov", "the nesterov family"),), linear_in_gradients=True,
           **_TORCH_AXES),
    Family("nesterov", "SGD with Nesterov momentum", "SGD",
           dict(lr=SMALL_LR, momentum=Choice((0.5, 0.9, 0.99))), fixed=dict(nesterov=True, dampening=0.0),
           reference="SGD", contract=dict(_WD), schedulable=("lr", "momentum", "weight_decay"),
           defining=("lr", "momentum"), linear_in_gradients=True, **_TORCH_AXES),
    Family("adagrad", "Adagrad", "Adagrad",
           dict(lr=LR, lr_decay=Choice((0.0, 0.01)), initial_accumulator_value=Choice((0.0, 0.1, 1.0)),
                eps=Choice((1e-10, 1e-6, 1e-3))), reference="Adagrad", eps_free=True, contract=dict(_WD),
           schedulable=("lr", "lr_decay", "eps", "weight_decay"), **_TORCH_AXES,
           constructor_only=(("initial_accumulator_value",
                              "torch.optim.Adagrad (2.13) fills state['sum'] from the constructor's value "
                              "(adagrad.py __init__ and _init_group read self.defaults), not the group's: a "
                              "group's own initial_accumulator_value is ignored; T4 draws one for all groups"),)),
    Family("rmsprop", "RMSprop (plain and centered)", "RMSprop",
           dict(lr=SMALL_LR, alpha=Choice((0.5, 0.9, 0.99)), eps=EPS, momentum=Choice((0.0, 0.9)),
                centered=Choice((False, True))), reference="RMSprop", eps_free=True, contract=dict(_WD),
           schedulable=("lr", "momentum", "alpha", "eps", "weight_decay"), defining=("lr", "alpha"), **_TORCH_AXES),
    Family("adadelta", "Adadelta", "Adadelta",
           dict(lr=Interval(0.1, 1.0), rho=Choice((0.5, 0.9, 0.95)), eps=Choice((1e-6, 1e-3))),
           reference="Adadelta", contract=dict(_WD), schedulable=("lr", "rho", "eps", "weight_decay"),
           defining=("lr", "rho"), **_TORCH_AXES),
    Family("adam", "Adam", "Adam", dict(_ADAM), reference="Adam", eps_free=True,
           contract=dict(_WD, amsgrad=FLAG, decoupled_weight_decay=FLAG), schedulable=_ADAM_SCHEDULED,
           defining=("lr", "betas"), **_ADAM_AXES),
    Family("adamax", "Adamax", "Adamax", dict(_ADAM), reference="Adamax", contract=dict(_WD),
           schedulable=_ADAM_SCHEDULED, defining=("lr", "betas"), **_TORCH_AXES),
    Family("nadam", "NAdam", "NAdam", {**_ADAM, "momentum_decay": Choice((0.0, 0.004, 0.1))}, reference="NAdam",
           contract=dict(_WD, decoupled_weight_decay=FLAG), schedulable=_ADAM_SCHEDULED + ("momentum_decay",),
           defining=("lr", "betas"), **_TORCH_AXES),
    Family("amsgrad", "Adam with amsgrad=True", "Adam", dict(_ADAM), fixed=dict(amsgrad=True), reference="Adam",
           contract=dict(_WD, decoupled_weight_decay=FLAG), schedulable=_ADAM_SCHEDULED, defining=("lr", "betas"),
           **_ADAM_AXES),
    Family("radam", "RAdam", "RAdam", dict(_ADAM), reference="RAdam",
           contract=dict(_WD, decoupled_weight_decay=FLAG), schedulable=_ADAM_SCHEDULED, defining=("lr", "betas"),
           **_TORCH_AXES),
    Family("adamw", "Adam with decoupled weight decay", "AdamW", dict(_ADAM), reference="AdamW",
           decays_by_default=True, contract=dict(_MAX, weight_decay=Choice((0.0, 1e-2, 0.1)), amsgrad=FLAG),
           schedulable=_ADAM_SCHEDULED, defining=("lr", "betas"), decay_law="decoupled", **_ADAM_AXES),
    Family("asgd", "averaged SGD", "ASGD",
           dict(lr=SMALL_LR, alpha=Choice((0.5, 0.75)), t0=Choice((0.0, 5.0, 1e6))),
           decay=("weight_decay", "lambd"), reference="ASGD", decays_by_default=True,
           contract=dict(_WD, lambd=Choice((0.0, 1e-4, 1e-2))),
           schedulable=("lr", "alpha", "t0", "weight_decay", "lambd"), **_TORCH_AXES),
    Family("rprop", "resilient backpropagation (sign-based)", "Rprop",
           dict(lr=SMALL_LR, etas=Choice(((0.5, 1.2), (0.3, 1.5))),
                step_sizes=Choice(((1e-6, 50.0), (1e-3, 1.0)))), decay=(), reference="Rprop",
           contract=dict(_MAX), schedulable=("lr", "etas", "step_sizes"), defining=("lr", "etas"), decay_law="none",
           complex_parameters=True, differentiable=True),
    Family("lbfgs", "L-BFGS (closure-based, two-loop recursion)", "LBFGS",
           dict(lr=Choice((0.1, 0.5, 1.0)), max_iter=Integers(1, 4), history_size=Integers(2, 8)),
           decay=(), stateful=False, needs_closure=True, elementwise=False, decay_law="none",
           not_drawn=(("max_eval", "its default 1.25 max_iter is what T2/T3 run; T4's L-BFGS test draws it "
                                   "(default, 10, 25)"),
                      ("tolerance_grad", "drawn by T4's L-BFGS test only (1e-7, 1e-5)"),
                      ("tolerance_change", "drawn by T4's L-BFGS test only (1e-9, 1e-6)"),
                      ("line_search_fn", "drawn by T4's L-BFGS test only (None, 'strong_wolfe'), each compared "
                                         "with its float64 reference"))),
    Family("adafactor", "Adafactor (factored second moment)", "Adafactor",
           dict(lr=SMALL_LR, beta2_decay=Choice((-0.8, -0.5))), elementwise=False, reference="Adafactor",
           contract=dict(_WD, eps=Choice(((None, 1e-3), (1e-30, 1e-3), (None, 1e-2))), d=Choice((1.0, 2.0))),
           takes_empty=False, defining=("lr", "beta2_decay"), decay_law="decoupled",
           schedulable=("lr", "beta2_decay", "eps", "d", "weight_decay"), tensor_hyperparameters=("lr",),
           limits=(("T4 empty parameters", "torch.optim.Adafactor (2.13) computes param.norm() / numel ** 0.5 "
                                           "in Python: ZeroDivisionError on an empty parameter"),)),
    Family("muon", "Muon (Newton-Schulz orthogonalised momentum; 2-D parameters)", "Muon",
           dict(lr=SMALL_LR, momentum=Choice((0.0, 0.5, 0.95)), nesterov=Choice((False, True)),
                ns_steps=Integers(1, 5)), matrices_only=True, elementwise=False, reference="Muon",
           decays_by_default=True, amplifies_rounding=True, defining=("lr", "momentum"), decay_law="decoupled",
           contract=dict(weight_decay=WEIGHT_DECAY, eps=Choice((1e-7, 1e-3)),
                         adjust_lr_fn=Choice((None, "original", "match_rms_adamw"))),
           schedulable=("lr", "momentum", "weight_decay"), tensor_hyperparameters=("lr",),
           limits=(("T5/T6", "takes 2-D parameters only; the batched networks are 3-D (T2 trains it on real layers)"),
                   ("T4 low precision", "Newton-Schulz's quintic has slope a = 3.4445 at 0: each iteration "
                                        "multiplies the rounding of its input, so no bound of the form "
                                        "gamma_n(u) holds; only the float64 claim is checked"),
                   ("T4 precision", "the published algorithm (Keller Jordan's muon.py, torch.optim.Muon) runs "
                                    "Newton-Schulz in bfloat16; the reference does too, so an implementation "
                                    "that orthogonalises in another precision leaves it by bfloat16 rounding")),
           not_drawn=(("ns_coefficients", "the published quintic (3.4445, -4.7750, 2.0315) only: other "
                                          "triples are a different algorithm"),)),
    Family("lion", "Lion (Chen et al. 2023: sign of the interpolated momentum, decoupled decay)", None,
           dict(lr=SMALL_LR, betas=Pair(Choice((0.0, 0.5, 0.9, 0.95)), Choice((0.5, 0.9, 0.99)))),
           reference="Lion", contract=dict(weight_decay=WEIGHT_DECAY), schedulable=("lr", "betas"),
           defining=("lr", "betas"), decay_law="decoupled",
           amplifies_rounding=True,
           limits=(("T4 low precision", "sign(b1 m + (1 - b1) g) of a rounded interpolation: where it is near 0 "
                                        "one rounding flips a whole step of 2 lr, so no aggregate gamma_n(u) bound "
                                        "holds; Lion's own test checks it per step instead (that coordinate's step "
                                        "bounded by 2 lr plus rounding, its sign not judged)"),)),
    Family("generic", "family unknown: only lr is passed", None, dict(lr=SMALL_LR), decay=(), stateful=False,
           elementwise=False, decay_law="none"),
]}


def family(name: str) -> Family:
    return FAMILIES[name]


def valid_families() -> str:
    return ", ".join(FAMILIES)


def select(*, families=None, capability=None) -> set[str]:
    """Names of the families a theorem marker covers: ``families`` (names) and/or ``capability``
    (a record attribute, or a tuple of them, that must all be true)."""
    names = set(FAMILIES) if families is None else set(families)
    unknown = names - set(FAMILIES)
    if unknown:
        raise ValueError(f"unknown families {sorted(unknown)} in a theorem marker")
    wanted = (capability,) if isinstance(capability, str) else tuple(capability or ())
    for cap in wanted:
        if not hasattr(Family, cap):
            raise ValueError(f"unknown capability {cap!r} in a theorem marker")
        names = {n for n in names if getattr(FAMILIES[n], cap)}
    return names
