"""Valid hyperparameters per optimizer family, under torch.optim's names.

``hyperparameters(family)`` draws a configuration inside the theorems' hypotheses (zero weight
decay, ASGD's lambd = 0); ``decaying_hyperparameters(family)`` one outside them. Every draw is
recorded with ``hypothesis.note`` so a counterexample shows the configuration it used.
"""
from __future__ import annotations

from hypothesis import note
from hypothesis import strategies as st

lrs = st.floats(1e-4, 0.5)
small_lrs = st.floats(1e-4, 0.05)
betas1 = st.sampled_from([0.0, 0.5, 0.9, 0.99])
betas2 = st.sampled_from([0.5, 0.9, 0.99, 0.999])
epsilons = st.sampled_from([1e-8, 1e-6, 1e-3, 0.1])

# families whose torch.optim class takes a weight_decay argument
TAKES_WEIGHT_DECAY = {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamax",
                      "nadam", "amsgrad", "radam", "adamw", "asgd", "adafactor", "muon"}


def _family_draws(family: str):
    adam_like = dict(lr=small_lrs, betas=st.tuples(betas1, betas2), eps=epsilons)
    return {
        "sgd": dict(lr=lrs),
        "momentum": dict(lr=small_lrs, momentum=st.sampled_from([0.5, 0.9, 0.99]),
                         dampening=st.sampled_from([0.0, 0.1, 0.5])),
        "nesterov": dict(lr=small_lrs, momentum=st.sampled_from([0.5, 0.9, 0.99]), nesterov=st.just(True),
                         dampening=st.just(0.0)),
        "adagrad": dict(lr=lrs, lr_decay=st.sampled_from([0.0, 0.01]),
                        initial_accumulator_value=st.sampled_from([0.0, 0.1, 1.0]),
                        eps=st.sampled_from([1e-10, 1e-6, 1e-3])),
        "rmsprop": dict(lr=small_lrs, alpha=st.sampled_from([0.5, 0.9, 0.99]), eps=epsilons,
                        momentum=st.sampled_from([0.0, 0.9]), centered=st.booleans()),
        "adadelta": dict(lr=st.floats(0.1, 1.0), rho=st.sampled_from([0.5, 0.9, 0.95]),
                         eps=st.sampled_from([1e-6, 1e-3])),
        "adam": adam_like,
        "amsgrad": {**adam_like, "amsgrad": st.just(True)},
        "adamax": adam_like,
        "nadam": {**adam_like, "momentum_decay": st.sampled_from([0.0, 0.004, 0.1])},
        "radam": adam_like,
        "adamw": adam_like,
        "asgd": dict(lr=small_lrs, lambd=st.just(0.0), alpha=st.sampled_from([0.5, 0.75]),
                     t0=st.sampled_from([0.0, 5.0, 1e6])),
        "rprop": dict(lr=small_lrs, etas=st.sampled_from([(0.5, 1.2), (0.3, 1.5)]),
                      step_sizes=st.sampled_from([(1e-6, 50.0), (1e-3, 1.0)])),
        "lbfgs": dict(lr=st.sampled_from([0.1, 0.5, 1.0]), max_iter=st.integers(1, 4),
                      history_size=st.integers(2, 8)),
        "adafactor": dict(lr=small_lrs, beta2_decay=st.sampled_from([-0.8, -0.5])),
        "muon": dict(lr=small_lrs, momentum=st.sampled_from([0.0, 0.5, 0.95]), nesterov=st.booleans(),
                     ns_steps=st.integers(1, 5)),
        "generic": dict(lr=small_lrs),
    }[family]


@st.composite
def hyperparameters(draw, family: str, max_lr: float | None = None):
    """A configuration of ``family`` inside T2/T3's hypotheses (no decay of any kind).

    ``max_lr`` caps the learning rate (training real networks, where a large step diverges)."""
    hp = {name: draw(s) for name, s in _family_draws(family).items()}
    if max_lr is not None:
        hp["lr"] = min(hp["lr"], max_lr)
    if family in TAKES_WEIGHT_DECAY:
        hp["weight_decay"] = 0.0
    note(f"hyperparameters ({family}): {hp}")
    return hp


@st.composite
def decaying_hyperparameters(draw, family: str):
    """A configuration of ``family`` with weight decay > 0 (outside T2/T3's hypotheses)."""
    hp = draw(hyperparameters(family))
    hp["weight_decay"] = draw(st.sampled_from([1e-3, 1e-2, 0.1]))
    note(f"with decay: {hp}")
    return hp
