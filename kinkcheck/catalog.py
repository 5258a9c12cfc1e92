"""The theorem catalog: THEOREMS.md's entries, the module encoding each, and its status."""
from __future__ import annotations

from dataclasses import dataclass
from importlib.util import find_spec


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    source: str
    module: str
    gates: bool = True  # its outcome depends on the optimizer/activation under test
    suite_level: bool = False  # has parts that are suite-level facts (independent of the subject)

    @property
    def implemented(self) -> bool:
        return find_spec(f"kinkcheck.theorems.{self.module}") is not None


CATALOG = [
    Entry("T1", "ReLU gradient convention (ReLU'(0) = 0)", "[GM] Lemma 4.11; [BBGP21]", "test_relu_convention"),
    Entry("T2", "Inactive-neuron invariance", "[GM] Thm 4.2 proof, Lemmas 4.8-4.9; [OR] Thm 1.2",
          "test_inactive_neuron_invariance"),
    Entry("T3", "Frozen coordinates for every optimizer", "[GM] Setting 4.1 eq. (58), Lemmas 4.8-4.9",
          "test_frozen_coordinates"),
    Entry("T4", "Reference recursions", "[GM] Lemmas 4.8-4.9; [CUT] eqs. (22)-(30)", "test_reference_recursions"),
    Entry("T5", "Non-convergence probability grows with width", "[GM] Thm 4.2, Cor 4.3-4.7, Thm 1.1; [GMD]",
          "test_nonconvergence_width"),
    Entry("T6", "Depth makes non-convergence almost certain", "[OR] Thm 1.2-1.3; [GMD]; [LSSK20]",
          "test_nonconvergence_depth"),
    Entry("T7", "Embedding critical points into larger architectures", "[GM] Lemma 2.11, Prop 2.12, 3.3, Cor 3.14",
          "test_local_minima_embedding"),
    Entry("T8", "Risk of critical points", "[GM] Prop 2.10", "test_critical_point_risk"),
    Entry("T9", "Adam with non-vanishing learning rates does not converge", "[NV] Thm 1.1",
          "test_adam_nonvanishing_lr"),
    Entry("T10", "NDGM on the LASSO never settles", "[CUT] eqs. (7)-(8), (15)-(18), Prop 4.1, B.1-B.2",
          "test_lasso_ndgm_oscillation"),
    Entry("T11", "Momentum, Adam, RMSProp variants on the LASSO", "[CUT] Prop B.3, B.6-B.10", "test_lasso_variants"),
    Entry("T12", "RMSProp is blind to lambda; scale invariance", "[CUT] Prop B.4-B.5, eqs. (22)-(27)",
          "test_rmsprop_lambda_invariance"),
    Entry("T13", "Edge of stability on Lipschitz convex losses", "[CUT] Prop 5.1, eq. (10); [CKLKT21]",
          "test_edge_of_stability"),
    Entry("T14", "Non-smooth rates and the capture theorem", "[CUT] Sec 3, eqs. (5)-(6), Prop A.1",
          "test_nonsmooth_rates"),
]


def lookup(theorem_id: str) -> Entry | None:
    base = theorem_id.split("(")[0]
    return next((e for e in CATALOG if e.id == base), None)
