"""Generated (input dimension, box, initialization law) triples for the inactivity probabilities.

Box corners are dyadic rationals (exact in float64 and in sympy); the law is PyTorch's default
nn.Linear init, the standard normal (d <= 2: the exact orthant formula), or a uniform law with
dyadic weight and bias bounds.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import sympy as sp
from hypothesis import note
from hypothesis import strategies as st

from kinkcheck.harness.oracles.inactivity import (InitLaw, inactivity_probability, standard_normal, torch_default,
                                                  uniform)

CORNERS = [Fraction(k, 4) for k in range(-4, 5)]  # -1, -3/4, ..., 1
BOUNDS = [Fraction(1, 2), Fraction(1), Fraction(2)]


@dataclass(frozen=True)
class InitCase:
    law: InitLaw
    lo: tuple[Fraction, ...]
    hi: tuple[Fraction, ...]

    @property
    def d(self) -> int:
        return len(self.lo)

    def exact_p(self) -> sp.Expr:
        return inactivity_probability(self.law, self.lo, self.hi)

    def box(self, placement):
        return (placement.tensor([float(a) for a in self.lo]), placement.tensor([float(b) for b in self.hi]))


@st.composite
def intervals(draw):
    a, b = draw(st.lists(st.sampled_from(CORNERS), min_size=2, max_size=2, unique=True).map(sorted))
    return a, b


@st.composite
def init_cases(draw, max_d: int = 3):
    d = draw(st.integers(1, max_d))
    sides = [draw(intervals()) for _ in range(d)]
    kinds = ["torch", "uniform"] + (["normal"] if d <= 2 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "torch":
        law = torch_default(d)
    elif kind == "normal":
        law = standard_normal()
    else:
        law = uniform(draw(st.sampled_from(BOUNDS)), draw(st.sampled_from(BOUNDS)))
    case = InitCase(law, tuple(a for a, _ in sides), tuple(b for _, b in sides))
    note(f"init case: {law}, box lo={[str(a) for a in case.lo]} hi={[str(b) for b in case.hi]}")
    return case
