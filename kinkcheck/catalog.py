"""The theorem catalogue: the one place that says what each theorem ID means in this project.

Every ID the code cites ("T2", "T2(d)") has one entry here: its title, its sources (paper short
name + result number), the claim *as the suite checks it* (never more than the assertions behind
it), the tests that encode it, whether it gates a subject, and how it holds in low precision.
``kinkcheck theorems`` prints it, ``kinkcheck theorems --markdown`` writes docs/theorems.md, and
``python -m kinkcheck.catalog --write`` regenerates docs/theorems.md and README's theorem table.
tests/test_catalogue.py keeps the three and the code in step.

To edit a claim, edit its entry (a few lines) and run ``python -m kinkcheck.catalog --write``.
This module imports neither torch nor the harness.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

# --- the three ways a claim can hold in float16 / bfloat16 / float32 (issue #15) -----------------
EXACT = "exact in any dtype"  # asserted bit for bit (or exactly) in the dtype under test
ROUNDING = "up to rounding"  # tolerance derived from unit roundoff and step counts, float64 reference
REAL = "exact-arithmetic claim"  # a real-arithmetic fact; low-precision behaviour is a different one
PRECISION_CLASSES = {
    EXACT: "the claim survives rounding unchanged: the suite asserts it bit for bit (or exactly) in the "
           "dtype under test, as in float64.",
    ROUNDING: "the claim holds up to rounding: the subject is compared with a float64 reference within a "
              "tolerance that should follow from the dtype's unit roundoff and the number of steps.",
    REAL: "the claim is about real (or rational) arithmetic; in low precision the behaviour is a different "
          "fact, to be measured and reported as a figure, not judged.",
}

SOURCES = {
    "[GM]": "Non-convergence to global minimizers for Adam and SGD optimization and constructions of local "
            "minimizers in the training of ANNs (arXiv 2402.05155)",
    "[OR]": "Do, Jentzen, Riekert: Non-convergence to the optimal risk for Adam and SGD in the training of deep "
            "neural networks (arXiv 2503.01660)",
    "[GMD]": "Do, Hannibal, Jentzen: Non-convergence to global minimizers in data driven supervised deep "
             "learning (arXiv 2410.10533)",
    "[NV]": "Dereich, Graeber, Jentzen: Non-convergence of Adam and other adaptive SGD methods for "
            "non-vanishing learning rates (arXiv 2407.08100)",
    "[CUT]": "Kumar: GD doesn't make the cut: three ways that non-differentiability affects neural network "
             "training (arXiv 2401.08426)",
    "[BBGP21]": "Bertoin, Bolte, Gerchinovitz, Pauwels: Numerical influence of ReLU'(0) on backpropagation "
                "(NeurIPS 2021)",
    "[LSSK20]": "Lu, Shin, Su, Karniadakis: Dying ReLU and initialization (CiCP 2020)",
    "[CKLKT21]": "Cohen et al.: Gradient descent on neural networks typically occurs at the edge of stability "
                 "(ICLR 2021)",
    "[LION]": "Chen et al.: Symbolic discovery of optimization algorithms (NeurIPS 2023): the Lion update",
    "[NW]": "Nocedal, Wright: Numerical Optimization (2nd ed., Springer 2006): L-BFGS, Alg. 7.4 and eq. (7.20)",
}

SUBJECT_FIXTURES = ("optimizer_subject", "activation")  # a test taking one of these gates a subject
ROOT = Path(__file__).resolve().parents[1]  # the checkout (docs/, README.md) when run from one
REGENERATE = "kinkcheck theorems --markdown > docs/theorems.md"


@dataclass(frozen=True)
class Entry:
    """One theorem (``T2``) or one of its parts (``T2(d)``).

    ``tests``: "path::function" of the tests that encode the claim (theorems/ unless the claim is an
    audit of the framework). ``gates``: some test depends on the optimizer/activation under test;
    ``suite_level``: some test does not (a fact about the suite's own oracles, independent of the
    subject). A theorem with parts takes both from its parts and its own tests.
    """
    id: str
    title: str
    sources: tuple[str, ...]
    statement: str
    tests: tuple[str, ...] = ()
    gates_: bool | None = None
    suite_level_: bool | None = None
    precision_: str | None = None
    low_precision: str = ""  # what the suite does today outside float64 / how the class applies
    not_checked: str = ""  # what the specification (THEOREMS.md) claims beyond the assertions
    module: str = ""  # top-level entries: the theorems/ module encoding it
    summary: str = ""  # top-level entries: one line for README's table
    parts: tuple["Entry", ...] = field(default=())

    # --- the API the plugin uses (verdicts.py, report.py) ---
    @property
    def source(self) -> str:
        return "; ".join(self.sources)

    @property
    def gates(self) -> bool:
        return bool(self.gates_) or any(p.gates for p in self.parts)

    @property
    def suite_level(self) -> bool:
        return bool(self.suite_level_) or any(p.suite_level for p in self.parts)

    @property
    def implemented(self) -> bool:
        return bool(self.module) and find_spec(f"kinkcheck.theorems.{self.module}") is not None

    # --- derived views ---
    @property
    def base(self) -> str:
        return self.id.split("(")[0]

    @property
    def all_tests(self) -> tuple[str, ...]:
        out = list(self.tests)
        for p in self.parts:
            out += [t for t in p.tests if t not in out]
        return tuple(out)

    @property
    def modules(self) -> tuple[str, ...]:
        """The files holding its tests (and its parts' tests), in order of first mention."""
        return tuple(dict.fromkeys(t.split("::")[0] for t in self.all_tests))

    @property
    def precisions(self) -> tuple[str, ...]:
        seen = {self.precision_} | {p.precision_ for p in self.parts}
        return tuple(c for c in PRECISION_CLASSES if c in seen)

    @property
    def precision(self) -> str:
        return " / ".join(self.precisions)

    @property
    def gate_label(self) -> str:
        return {(True, False): "yes", (False, True): "suite-level", (True, True): "both"}.get(
            (self.gates, self.suite_level), "none")


def theorem(id, title, sources, module, summary, statement, *, tests=(), gates=None, suite_level=None,
            precision=None, low_precision="", not_checked="", parts=()):
    return Entry(id, title, tuple(sources), statement, tuple(tests), gates, suite_level, precision, low_precision,
                 not_checked, module, summary, tuple(parts))


def part(id, title, sources, statement, tests, *, gates, suite_level, precision, low_precision="",
         not_checked=""):
    return Entry(id, title, tuple(sources), statement, tuple(tests), gates, suite_level, precision, low_precision,
                 not_checked)


def _t(module: str, *functions: str) -> tuple[str, ...]:
    return tuple(f"theorems/{module}.py::{f}" for f in functions)


# ================================================================================================
# The catalogue. One theorem = theorem(...); one part = part(...). Keep statements to what the
# tests assert; put what the specification says beyond that under not_checked.
# ================================================================================================

M1, M1D = "test_relu_convention", "test_relu_precision"
M2, M3, M4 = "test_inactive_neuron_invariance", "test_frozen_coordinates", "test_reference_recursions"
M5, M6, M7 = "test_nonconvergence_width", "test_nonconvergence_depth", "test_local_minima_embedding"
M8, M9, M10 = "test_critical_point_risk", "test_adam_nonvanishing_lr", "test_lasso_ndgm_oscillation"
M7E, M7F = "test_inactive_neuron_deletion", "test_activation_hierarchies"
M11, M12 = "test_lasso_variants", "test_rmsprop_lambda_invariance"
M13, M14 = "test_edge_of_stability", "test_nonsmooth_rates"
MMP = "test_mixed_precision"
M4L = "test_lbfgs_recursion"
M4H, M4S = "test_long_horizons", "test_sparse_gradients"
M4U = "test_usage_contract"
# T4's long horizons (theorems/test_long_horizons.py; harness/oracles/long_horizons.py): the steps each family's
# trajectory runs per dtype (past 2^p for a counter or state kept in a dtype of p significand bits: 256 for
# uint8/bfloat16, 2048 for float16), the state_dict round trip after 90% of them; "slow": --kinkcheck-slow only.
T4_HORIZONS = (
    "| families | bfloat16 | float16 | float32 | float64 |\n"
    "|---|---|---|---|---|\n"
    "| every family with a reference but muon (sgd, momentum, nesterov, adagrad, rmsprop, adadelta, adam, adamax, "
    "nadam, amsgrad, radam, adamw, asgd, rprop, adafactor, lion) | 288 steps | 2304 (slow) | 2304 (slow) | "
    "3-20 (contract cases) |\n"
    "| muon | - (no low-precision bound) | - | - | 288 (slow; aggregate float64 bound; no step counter) |\n"
    "| lbfgs | 1-10 step() calls of 1-4 iterations (test_lbfgs_recursion) | - | - | same |\n"
    "| every family, short contract cases (test_reference_recursions) | 3-13 steps | 3-20 | 3-20 | 3-20 |"
)

CATALOG: list[Entry] = [
    theorem(
        "T1", "ReLU gradient convention (ReLU'(0) = 0)", ["[GM] Lemma 4.11", "[BBGP21]"], M1,
        "the activation under test: forward max(x, 0) and derivative 1_{x>0} (0 at +0 and -0) in four dtypes and "
        "four autograd modes and under torch.compile; network gradients at exact kinks equal the limit of smooth "
        "gradients; the framework audit; [BBGP21]'s precision ordering",
        "The generalized gradient of the papers is autograd with ReLU'(x) = 1_{x>0}, hence ReLU'(0) = 0. "
        "The parts check the activation under test pointwise (a) and inside networks (b), audit the "
        "framework's own spellings of ReLU (c), and measure how often the choice at 0 matters in floating "
        "point (d).",
        parts=[
            part("T1(a)", "the derivative of the activation under test is 1_{x>0}",
                 ["[GM] Lemma 4.11", "[BBGP21] Sec. 2"],
                 "On generated finite floats plus fixed probes (+0, -0, a subnormal (bfloat16: its smallest normal) "
                 "of either sign, the smallest normal of either sign, +-1, +-inf), cast to float16, bfloat16, "
                 "float32 and float64: the forward value equals max(x, 0) exactly and the derivative equals "
                 "1_{x>0} exactly, in eager autograd, torch.func.grad, torch.func.vjp and torch.func.jvp. The "
                 "same probes (and +-0.5, 3) under torch.compile in float32 and float64; skipped with the reason "
                 "where torch.compile cannot run. On non-contiguous, expanded, channels_last, 0-d and empty "
                 "tensors of every dtype, with sizes around 8, 16, 32 and 64 elements and kinks in block bodies "
                 "and tails, and inside a bfloat16 torch.autocast region (on float32 values exact in "
                 "bfloat16): forward and derivative equal eager on the same contiguous values bit for bit, and "
                 "the derivative is 1_{x>0}.",
                 _t(M1, "test_derivative_is_the_indicator_of_x_positive",
                    "test_derivative_convention_under_torch_compile",
                    "test_convention_holds_in_every_memory_layout_and_size", "test_convention_holds_inside_autocast"),
                 gates=True, suite_level=False, precision=EXACT,
                 low_precision="The test picks its own dtypes (all four) whatever --dtype says; torch.compile "
                               "is checked in float32 and float64 only.",
                 not_checked="NaN inputs (not generated)."),
            part("T1(b)", "network gradients at exact kinks are the limit of smooth gradients", ["[GM] Lemma 4.11"],
                 "On generated networks and data whose first-layer pre-activations are exactly 0 somewhere "
                 "(dyadic construction; at least one exact kink asserted), the autograd gradient with the "
                 "activation under test is compared with gradients computed with R_r(x) = ln(1 + e^{rx}/r)/r for "
                 "r = 10, ..., 1e8: the largest difference at r = 1e8, relative to 1 + max|g|, is at most 1e-5, "
                 "and it is no larger than at r = 1e4.",
                 _t(M1, "test_autograd_gradient_is_the_limit_of_smooth_gradients"),
                 gates=True, suite_level=False, precision=REAL,
                 low_precision="A limit claim resolved in float64 only: under any other --dtype the test skips "
                               "today and reports no figure.",
                 not_checked="Kinks in deeper layers (where R_r's shift keeps the limit away from 0) and a "
                             "monotone decrease along every r; only the endpoint comparison is asserted."),
            part("T1(c)", "the framework audit: every spelling of ReLU at its kink",
                 ["[GM] Lemma 4.11", "[BBGP21]"],
                 "`kinkcheck audit` measures the derivative every spelling of ReLU (relu, relu_, F.relu, "
                 "nn.ReLU, threshold, clamp, clamp_min, maximum both ways, fmax, where, (x+|x|)/2, x*(x>0), "
                 "leaky_relu(x,0), elu(x,0), hardtanh(x,0,inf), relu6 at 0 and 6) returns at +0 and -0, at "
                 "+-the smallest subnormal, at +-inf and at NaN, per dtype, device and mode (eager, func.grad, "
                 "vjp, jvp, TorchScript; torch.compile on request; JAX and TensorFlow when installed). It is a "
                 "report, not a verdict on a subject: the self-tests assert the measured eager/func.grad/vjp "
                 "values in all four dtypes against the listed table (0: relu family, threshold, where, "
                 "x*(x>0), leaky_relu(x,0), elu(x,0), hardtanh, relu6; 1: clamp(min=0), clamp_min, fmax; "
                 "0.5: maximum, (x+|x|)/2), that forward and reverse mode of fmax disagree, and that the shipped "
                 "pinned table matches the installed torch.",
                 ("tests/test_audit.py::test_measured_kink_derivatives_match_theorems_md",
                  "tests/test_audit.py::test_forward_mode_of_fmax_disagrees_with_reverse_mode",
                  "tests/test_audit.py::test_shipped_pinned_table_matches_this_torch",
                  "tests/test_audit.py::test_torchscript_mode_is_measured_or_skipped_with_a_reason"),
                 gates=False, suite_level=True, precision=EXACT,
                 low_precision="Measured and compared value for value in float16, bfloat16, float32 and float64.",
                 not_checked="NaN behaviour is reported, not judged. Measured on torch 2.13.0 CPU: eager and "
                             "TorchScript agree (TorchScript runs the same backward on CPU); relu, threshold, "
                             "hardtanh, elu, relu6 and maximum pass the gradient through a NaN input, while "
                             "clamp, clamp_min, fmax, where, x*(x>0) and leaky_relu(x,0) give 0 there. Where "
                             "THEOREMS.md differs from the measured table (README, 'Auditing a framework'), "
                             "the measured table is right."),
            part("T1(d)", "where ReLU'(0) matters: float16 >= float32 >= float64 [BBGP21]",
                 ["[BBGP21] Sec. 3-4", "[GM] Lemma 4.11"],
                 "Suite-level: on 223 random MLPs (nn.Linear's init) per configuration (width, depth) in "
                 "{(32,1), (32,3), (128,1), (128,2)}, each with its own batch of 32 MNIST-like dyadic inputs, "
                 "the cases whose backprop differs between ReLU'(0) = 0 and ReLU'(0) = 1 are not more frequent "
                 "in a finer dtype (float32 vs float16, float64 vs float32, float64 vs float16: one-sided exact "
                 "McNemar tests, false alarm 1e-6 each, power 0.997 against an extra 15% of discordant cases), "
                 "some float16 case differs, and in float32 and float64 at most 1% of cases differ (exact "
                 "one-sided binomial test at 1e-6; 223 networks give power 0.99 against 10%). Subject: on width-64, "
                 "depth-2 networks of the same kind, backprop through the activation under test equals "
                 "backprop with ReLU'(0) = 0 value for value in float16, float32 and float64 (an exact zero "
                 "pre-activation asserted in float16).",
                 _t(M1D, "test_relu_derivative_at_zero_matters_more_in_lower_precision",
                    "test_activation_under_test_backprops_like_relu_prime_zero_equal_0"),
                 gates=True, suite_level=True, precision=EXACT,
                 low_precision="The part is about precision itself: it runs in float16, float32 and float64 "
                               "whatever --dtype says (bfloat16 is not among them); the per-case comparisons "
                               "are exact, the ordering is an exact test.",
                 not_checked="That the fraction is about 0 in float64 (recorded as a figure, not asserted)."),
        ]),
    theorem(
        "T2", "Inactive-neuron invariance", ["[GM] Thm 4.2 proof, eqs. (60)-(67), Lemmas 4.8-4.9", "[OR] Thm 1.2"], M2,
        "exactly-zero gradient of an inactive neuron (any loss, kinks on the data, ReLU/clipping/RePU); bit-identical "
        "incoming parameters after training with the optimizer under test; a dead layer freezes everything below "
        "it; SGD inactivity absorbing at any time, momentum can revive; decoupled decay keeps inactivity, coupled "
        "Adam decay breaks it",
        "A hidden neuron inactive on the data gets an exactly-zero generalized gradient, so a gradient method "
        "started from zero state, without weight decay, never moves it: (a) the gradient, (b) training, (c) a "
        "whole dead layer, (d) memory of the optimizer, (e) weight decay.",
        parts=[
            part("T2(a)", "an inactive neuron gets exactly zero gradient",
                 ["[GM] Thm 4.2 proof, eqs. (60)-(62)", "[GM] Lemma 4.11"],
                 "For generated networks with first-layer neurons inactive on a box D that holds the data "
                 "(pre-activations may sit exactly at the kink on data points), every loss of the harness, and "
                 "the activation under test or clipping c_{-0.5,1}, c_{0,2}, RePU p = 2, 3: the gradient of the "
                 "inactive neurons' incoming weights and biases is exactly 0, and so is that of their outgoing "
                 "weights when the activation is 0 on its flat piece. Non-vacuity (MSE): the output bias gets a "
                 "non-zero gradient.",
                 _t(M2, "test_inactive_neuron_gets_exactly_zero_gradient"),
                 gates=True, suite_level=False, precision=EXACT,
                 low_precision="Runs in the requested dtype and asserts exact zeros."),
            part("T2(b)", "an inactive neuron never moves under training",
                 ["[GM] Thm 4.2 proof, eqs. (63)-(67)", "[GM] Lemmas 4.8-4.9"],
                 "1-30 steps of the optimizer under test (hyperparameters drawn from its family's ranges, "
                 "lr <= 0.01, weight_decay = 0), full batch or random half-batches, any harness loss: the "
                 "inactive neurons' incoming weights and biases are bit-identical to their initial values and "
                 "the neurons are still inactive on D. Non-vacuity (MSE): some network moved. A configuration "
                 "with decay (drawn, or the subject's own default) is reported as out of scope with the measured "
                 "displacement of the inactive neurons' parameters; in float64 a zero displacement under decay is "
                 "a FAIL (the decay was ignored), and a subject whose declared decay law is decoupled must have "
                 "scaled them by prod (1 - lr lambda) up to gamma_2k(u) (harness/oracles/decay_law.py). The "
                 "layout is declared, not assumed: up to 8 networks stacked in 3-D weights / 2-D biases only for a "
                 "subject declared coordinatewise (a built-in whose family record is elementwise, or "
                 "?coordinatewise=True); every other subject trains one network's real layers per example (2-D "
                 "weights, 1-D biases; (out, 1) column biases for the 2-D-only muon family without matrix_flag), so "
                 "a matrix-wise optimizer is judged on the layers a user trains. T2(c) and T2(e) use the same "
                 "layout.",
                 _t(M2, "test_inactive_neuron_never_moves")
                 + _t(MMP, "test_inactive_neuron_never_moves_under_autocast"),
                 gates=True, suite_level=False, precision=EXACT,
                 low_precision="Runs in the requested dtype and asserts bit identity (hyperparameter values the "
                               "dtype cannot hold as a normal number not drawn, lr at least the dtype's eps, as for "
                               "T3; neurons "
                               "are inactive as the dtype computes their pre-activations; in float16/bfloat16 a "
                               "case whose loss or gradient leaves the dtype's range before a step is rejected and "
                               "counted, and "
                               "when every update rounds away the MSE non-vacuity is an event, not a check). "
                               "Under mixed precision "
                               "(float32 master parameters, loss under torch.autocast: bfloat16 on CPU, float16 on "
                               "CUDA) the neurons whose autocast pre-activations are all <= 0 keep their incoming "
                               "parameters bit for bit after 1-12 steps; how many neurons inactive in float32 are "
                               "active under autocast is recorded."),
            part("T2(c)", "a dead layer freezes everything below it", ["[OR] Thm 1.2", "[GM] Lemma 4.8"],
                 "For networks whose hidden layer k is inactive on D: the dead layer outputs exactly 0 on the "
                 "data before and after 1-20 training steps, the parameters of layers 1..k are bit-identical "
                 "after training, the realization is constant on the data (within 64 ulp of the dtype: "
                 "batched-matmul rows may round differently), the risk stays >= c* = Var(Y) up to a tolerance, "
                 "and the layers above moved (non-vacuity).",
                 _t(M2, "test_dead_layer_freezes_everything_below_it"),
                 gates=True, suite_level=False, precision=EXACT,
                 low_precision="Freezing is asserted bit for bit in the requested dtype. The risk is compared in "
                               "float64 on the dtype's values with tolerance 1e-12(1 + mean y^2), plus, outside "
                               "float64, 2 s sqrt(c*) with s the realization's measured spread (at most the 64 ulp "
                               "allowed): derived, not tuned. When every update of the layers above rounds away "
                               "(bfloat16/float16, small lr), non-vacuity is witnessed by the same subject run on "
                               "the upcast network in float64, and the count is recorded as a figure."),
            part("T2(d)", "memory: SGD inactivity is absorbing, momentum can revive", ["[GM] Lemmas 4.8-4.9"],
                 "SGD subjects (lr 0.5, full batch, 300 steps, 4096 width-4 networks on 8 points of [0, 1]): "
                 "some neuron becomes inactive on the data mid-training, and no such neuron's incoming "
                 "parameters move afterwards. Momentum and Nesterov subjects, momentum 0.9 as specified, a "
                 "constructed case (not a search): one hidden neuron on the data {0, 1/2, 1}, (w, b) = (-4, 5/2), "
                 "targets (-29, 23, 0), lr 1/2; the first full-batch step kills it while its momentum buffer "
                 "points back; with exactly zero gradient afterwards the buffer alone makes it active again "
                 "(step 3 with momentum, step 2 with Nesterov). Asserted: (w, b) against the closed form up to "
                 "the revival step (tolerance 64 n u (|p| + 12)), the dead/active pattern, and an exactly zero "
                 "gradient while it is dead.",
                 _t(M2, "test_sgd_inactivity_is_absorbing_at_any_time",
                    "test_momentum_can_revive_a_neuron_that_died_mid_training"),
                 gates=True, suite_level=False, precision=EXACT,
                 low_precision="The SGD half is a bit-for-bit check in the requested dtype; the constructed "
                               "revival holds up to rounding (tolerance from the dtype's unit roundoff).",
                 not_checked="Beyond the papers (they assume a zero gradient history from the start)."),
            part("T2(e)", "weight decay: decoupled keeps inactivity, coupled breaks it", ["[GM] Setting 3.1",
                                                                                          "[GM] Lemma 4.9"],
                 "By the decay law each subject declares (its family record's: AdamW decoupled, Adam coupled; "
                 "or the spec's ?decay_law=). Adam-like subjects (adam, amsgrad, adamw, adamax, nadam, radam) "
                 "with decoupled decay, weight_decay in {1e-3, 1e-2, 0.1}, 1-20 steps, inactive neurons generated "
                 "with margin 0.125 or 1: the neurons' biases moved and they are still inactive on D. Adam and "
                 "AMSGrad subjects with coupled decay: a neuron inactive on [0, 1] with bias -lr/4 (lr = "
                 "2^-6..2^-9) and zero data gradient is moved and is active after one step; the failure message "
                 "says how to declare a decoupled law.",
                 _t(M2, "test_decoupled_decay_preserves_inactivity", "test_coupled_decay_breaks_inactivity"),
                 gates=True, suite_level=False, precision=EXACT,
                 low_precision="Exact comparisons in the requested dtype; the margins keep rounding from "
                               "deciding inactivity."),
        ]),
    theorem(
        "T3", "Frozen coordinates for every optimizer", ["[GM] Setting 4.1 eq. (58)", "[GM] Lemmas 4.8-4.9"], M3,
        "gradient injection: coordinates whose every gradient is exactly 0 stay bit-identical for every subject "
        "(Muon: zero rows and columns); weight decay reported as out of scope with the measured displacement",
        "Gradient injection from zero state: 1-3 generated parameter tensors (float32 or float64; under --dtype "
        "float32, bfloat16 or float16 that dtype) with a fixed "
        "zero mask; for up to 40 steps the masked coordinates get an exactly-zero gradient and the others "
        "generated gradients (magnitudes over several decades). After the run the masked coordinates equal their "
        "initial values bit for bit (the sign of zero ignored), and a stateful optimizer that moved built state. A "
        "case in which the subject moved nothing (rectified Adam while rho_t <= 4, an update below half an ulp) "
        "is counted in the report, not judged; the test is vacuous (the subject's FAIL 'never reached the "
        "regime') when none of its cases moved. Matrices-only subjects (Muon): masks made of whole rows and columns. A "
        "fixed case (no draw: a 17-element vector and a 3 x 5 matrix with a zero row and column) is also run "
        "at the family's published defaults (the paper's values, e.g. Adafactor's eps1 = 1e-30) in the run's "
        "dtype, so that a deviation at the configuration everyone runs is found every run. A "
        "configuration with decay (weight_decay > 0, AdamW's and ASGD's defaults) must be reported as out of "
        "scope (a typed outcome carrying the measured displacement of the zero-gradient coordinates); in "
        "float64 a displacement of exactly 0 while some such coordinate is non-zero is a FAIL: the subject "
        "accepted a decay hyperparameter and ignored it; and the displacement must follow the subject's declared "
        "decay law (decoupled: theta_0 prod (1 - lr lambda) within gamma_2k(u); coupled: the family's reference "
        "fed 0 within gamma_16k(u) (|theta_0| + path)), so that no decay bug hides under out of scope. The "
        "GradScaler test reports a subject's own default decay as out of scope too.",
        tests=_t(M3, "test_zero_gradient_coordinates_never_move", "test_muon_zero_rows_and_columns_never_move",
                 "test_published_defaults_keep_zero_gradient_coordinates_bit_identical",
                 "test_weight_decay_is_outside_the_hypothesis") + _t(MMP, "test_skipped_scaled_steps_move_nothing"),
        gates=True, suite_level=False, precision=EXACT,
        low_precision="Under --dtype float32, bfloat16 or float16 the injected tensors (zero-gradient and Muon "
                      "tests) take that dtype and frozen coordinates are asserted bit for bit; non-zero hyperparameter "
                      "values below the dtype's smallest normal are not drawn (float16: eps = 1e-8 and Adagrad's "
                      "1e-10 are 0 in the parameter dtype, outside eps > 0, and torch's for-loop Adam then computes "
                      "0/0: docs/torch-deviations/adam_eps_underflow_float16_nan.py; a subnormal 1e-6 has an "
                      "overflowing reciprocal, and torch's float16 RAdam computes 0 * inf = NaN from it), and lr is "
                      "at least the dtype's eps (a "
                      "smaller step of O(1) parameters rounds away). torch's own "
                      "low-precision deviations found here are expected failures with a reproduction script each "
                      "(kinkcheck/expectations/torch-builtin.txt, docs/torch-deviations/expectations.txt): float16 "
                      "LBFGS (ro = 1/y.s overflows, 0 * inf = NaN), float16 Adafactor (grad * grad overflows), "
                      "float16/bfloat16 centered RMSprop (sqrt of a rounded-negative difference). When every live "
                      "update rounds away in float32/bfloat16/float16, the same stream is replayed, upcast, in float64 "
                      "(count recorded), and the frozen coordinates are checked bit for bit there too. The decay "
                      "test stays float64. With torch.amp.GradScaler "
                      "(float32 parameters, scaled loss, steps "
                      "whose gradient overflows): frozen coordinates stay bit-identical at every step, and a "
                      "skipped (found_inf) step leaves every parameter and every optimizer state tensor "
                      "bit-identical, whether the scaler skips it or the optimizer handles the scaling itself."),
    theorem(
        "T4", "Reference recursions", ["[GM] Lemmas 4.8-4.9", "[CUT] eqs. (22)-(23), (28)-(30)",
                                       "torch.optim documentation", "[LION] Alg. 2", "[NW] Alg. 7.4"], M4,
        "every iterate follows an independent float64 reference of the family's recursion over the whole usage "
        "contract (every hyperparameter, schedules, groups, shapes and layouts, grad None, state_dict round "
        "trip; L-BFGS's two-loop recursion too), within a bound derived from the unit roundoff; in low "
        "precision step by step from the subject's own state; refuses what torch.optim refuses",
        "For a subject whose family has a reference recursion (written from the papers and torch.optim's "
        "documented algorithms, never by calling torch.optim): 1-3 parameter groups, each with its own "
        "hyperparameters drawn from the family record's whole contract (maximize, dampening, nesterov, centered, "
        "momentum_decay, decoupled_weight_decay, lr_decay, initial_accumulator_value, amsgrad, etas/step_sizes, "
        "lambd/alpha/t0, ...); parameters 0-d, empty, vectors of 1-65 elements around 8/16/32/64, matrices, "
        "transposed, strided or channels_last, with gradients in another layout; gradients None at some steps "
        "under both zero_grad modes, a whole group without gradients at a step; every value the family's torch.optim "
        "class re-reads from param_groups (lr, betas, momentum, dampening, weight_decay, eps, alpha, rho, lr_decay, "
        "momentum_decay, lambd, t0, etas, step_sizes, beta2_decay, d) rewritten between steps (what schedulers and "
        "users do). After every step the subject's float64 iterates are within gamma_{16K}(u_64) "
        "(|theta_0| + sum |increments|) of the reference, and a state_dict() saved mid-run and loaded into a "
        "freshly built optimizer continues the run bit for bit; the public state a user reads (state['step'] "
        "exactly, ASGD's averaged iterate ax within gamma_{32K}(u) of the same scale, eta and mu within their own "
        "rounding) equals the reference's. T4 never compares against a value the subject "
        "was not given: a switch its constructor lacks (maximize, amsgrad, a decay) is compared at its off "
        "position (the cases that drew it on are recorded), any other missing hyperparameter (eps, ...) makes the "
        "test n/s; hyperparameters renamed in the spec (?rename=) are passed under the subject's names, and the "
        "declared decay law (?decay_law=) decides the reference's decay. torch's fused paths run every axis but "
        "the layouts their CPU kernels ignore (and, for fused SGD with momentum, parameters whose first gradient "
        "comes after step 1), recorded in the report. Known torch deviations found this way (fused CPU kernels "
        "ignore strides; load_state_dict casts NAdam/ASGD scalar state to a low-precision dtype; fused SGD never "
        "updates full SIMD blocks of a float16/bfloat16 parameter) have reproduction scripts in "
        "docs/torch-deviations/; those the built-in run expects are listed, per test and dtype, in "
        "kinkcheck/expectations/torch-builtin.txt. L-BFGS, which has no per-coordinate recursion, is compared "
        "by its own test: an independent float64 reference of the two-loop recursion ([NW] Alg. 7.4, initial "
        "scaling eq. (7.20)) with line_search_fn=None, history sizes 2-8, 1-4 iterations per step, drawn "
        "tolerances, on well-conditioned quadratics (gradient fl(Ax + b) handed to the subject, parameters a "
        "vector and a matrix), 1-10 steps, line_search_fn None or 'strong_wolfe' (an independent float64 "
        "reference of the bracketing and zoom phases with cubic interpolation, [NW] Alg. 3.5-3.6, eq. (3.59); "
        "max_eval drawn): after every step(closure) the subject's iterate is within twice "
        "the reference's first-order running error bound (Higham sec. 3.3); a step whose branch (curvature "
        "pair kept, a tolerance met, a Wolfe condition, the bracket's order) is within twice the bound of its "
        "threshold ends the comparison, counted. Long horizons: every family runs one long trajectory on a "
        "2 x 3 parameter with gradients from a fixed table, past the 2^p steps a counter or state kept in a "
        "dtype of p significand bits survives (256 in bfloat16, 2048 in float16/float32), across a "
        "state_dict round trip after 90% of the steps, each checked step against one step of the reference "
        "from the subject's own iterate and state, and state['step'] equal to the steps taken; horizons per "
        "family and dtype:\n\n" + T4_HORIZONS + "\n\nSparse gradients: for the families whose torch class "
        "takes them (SGD, momentum, Nesterov, Adagrad), an embedding-style sparse COO gradient (duplicate rows, "
        "coalesced or not) in a group with a dense float32 parameter, each compared with the reference fed the "
        "densified gradient (torch's fused kernels refuse sparse gradients: skipped for them). Usage axes "
        "(contract), each held where the family's torch.optim class supports it (family record: "
        "complex_parameters, tensor_hyperparameters, differentiable; lion and generic have no torch class and "
        "are held to none): complex parameters (complex128, complex64) compared as their view_as_real pairs; "
        "0-d tensor lr (and tensor betas/weight_decay for Adam/AdamW) rewritten in place between steps as torch's "
        "LR schedulers do (every tensor of group 0 at one step), the iterates following the recursion with the "
        "rewritten values and the user's tensors bitwise unchanged after the run (never aliased); add_param_group "
        "after some steps with the constructor's constructor-only values (Adagrad's initial_accumulator_value) "
        "other than the defaults; a float32 parameter first in a group with float64 ones (checked per step); "
        "the public state of the new axes (state['step'] of a group added late or of a complex parameter, ASGD's "
        "eta, mu, ax) against the reference; "
        "differentiable=True on non-leaf parameters: iterates within the float64 bound and torch.autograd.grad "
        "of the updated parameters with respect to the last step's gradients defined and finite, and, through a "
        "whole 3-step run with every gradient requiring grad, the derivative of the last iterates with respect "
        "to each parameter's first gradient defined, finite and nonzero wherever autograd through the float64 "
        "reference recursion makes it nonzero; for SGD, heavy ball and Nesterov (linear in the gradients) also "
        "its value, within twice gamma_{16 K}(2^-53) times the sum of the absolute path terms (the reference's "
        "derivative with weight_decay's sign flipped); the adaptive families' values are not compared (their "
        "path terms cancel and autograd gives no bound on their absolute sum). Tensor "
        "hyperparameters are drawn apart from float32/complex64 parameters (torch casts a tensor beta to the "
        "parameter dtype before forming 1 - beta, a rounding the per-step bound does not model). torch's fused "
        "paths skip complex parameters and differentiable (they raise by design), its foreach paths "
        "differentiable and, for Adam/AdamW, tensor hyperparameters; torch.optim itself keeps the user's tensor "
        "lr in param_groups, so a scheduler's in-place rewrite changes it "
        "(docs/torch-deviations/tensor_lr_aliased_by_param_groups.py; an expectation of the built-in run); "
        "with differentiable=True, SGD with momentum detaches its first momentum buffer (no gradient from the "
        "first gradient; under Nesterov a derivative without the buffer's share) and RMSprop (centered), "
        "Adamax, Adam/AdamW (amsgrad) and Rprop update saved state in "
        "place so the backward through several steps raises (docs/torch-deviations/"
        "sgd_momentum_differentiable_first_buffer_detached.py, differentiable_inplace_state_multistep.py; "
        "expectations of the built-in run). "
        "The error contract: "
        "where torch.optim raises (a parameter in two groups, a "
        "load_state_dict whose groups do not match this optimizer's, lr < 0 for a family with a torch.optim "
        "class), the subject must raise too; accepting one silently is a FAIL naming what it accepted.",
        tests=_t(M4, "test_iterates_follow_the_family_recursion",
                 "test_low_precision_iterates_stay_within_the_rounding_bound",
                 "test_lion_low_precision_steps_follow_the_recursion",
                 "test_the_subject_refuses_what_torch_optim_refuses")
        + _t(M4L, "test_lbfgs_follows_the_two_loop_recursion")
        + _t(M4H, "test_long_trajectories_follow_the_family_recursion",
             "test_muon_long_trajectory_follows_the_recursion_in_float64")
        + _t(M4S, "test_sparse_embedding_gradients_follow_the_family_recursion")
        + _t(M4U, "test_usage_axes_follow_the_family_recursion", "test_user_tensors_are_not_aliased",
             "test_differentiable_steps_follow_the_recursion_and_pass_gradients",
             "test_gradients_flow_through_every_differentiable_step"),
        gates=True, suite_level=False, precision=ROUNDING,
        low_precision="The first test runs in float64 whatever --dtype says (1e-12: about 50 steps of a few "
                      "ulps, ten-fold margin). The second runs float32, bfloat16 or float16 parameters (gradients "
                      "and state in that dtype) and checks every step against one step of the family's float64 "
                      "recursion started from the subject's own iterate and state (optimizer.state; the "
                      "reference's own state with its carried bound where the keys differ), within the running "
                      "rounding-error bound of that step's formula in the dtype's unit roundoff (u |theta'| for the "
                      "final add plus each term weighted by its count of roundings; contract_runs.PerStep, "
                      "recursions.Bounded); the exposed state is checked against the same bound, and a state_dict "
                      "round trip continues bit for bit in that dtype. Measured: a per-step error of 1-2% (SGD "
                      "momentum, Lion, RMSprop, Adagrad) or 8% (Adam) fails in bfloat16, 0.1-0.5% in float16, "
                      "1e-6 in float32; torch's own paths use up to 0.90-0.99 of the bound. The step count is "
                      "derived from the bound (contract_runs.informative_steps, per_step: only a state the "
                      "reference carries itself accumulates, 2 roundings a step): 13 steps in bfloat16 (3 before), "
                      "20 in float16 and float32; scripts/perstep_slack.py measures slack and thresholds. "
                      "The hyperparameters "
                      "drawn there keep their squares and reciprocals in the dtype's normal range (kernels square "
                      "and invert them: Adafactor's eps1 = 1e-30 is not drawn in float32/bfloat16). Lion has its "
                      "own low-precision test: its step is exact except where its interpolation is within "
                      "rounding of 0, where the coordinate's step is bounded by 2 lr plus rounding. Expected "
                      "failures of the built-in run only (lines of torch-builtin.txt naming the test and dtype; a "
                      "user's subject is checked): torch's Adafactor in float16 squares the gradient in the "
                      "parameter dtype, a gradient above ~256 overflows to inf and lerp_ turns it into NaN "
                      "(docs/torch-deviations/adafactor_float16_square_overflow.py); torch's foreach RAdam in "
                      "float16 divides sqrt(v) + eps by the step size and inverts it, which overflows for a small "
                      "lr and drops the step (radam_foreach_float16_step_overflow.py); fused SGD's SIMD blocks and "
                      "load_state_dict's scalar casts (above). The error contract (a parameter in two groups, a "
                      "load_state_dict whose groups do not match, lr < 0) is dtype-independent."),
    theorem(
        "T5", "Non-convergence probability grows with width",
        ["[GM] Thm 4.2, Cor 4.3, Cor 4.5-4.7, Thm 1.1", "[GMD]"], M5,
        "exact inactivity probability p (sympy) against 2^17-network Monte Carlo; P(I != {}) = 1-(1-p)^H; after "
        "200 training steps the fraction without an inactive neuron is <= (1-p)^H; the bound decreases in H",
        "A shallow network with H i.i.d. hidden neurons has an inactive neuron on D with probability "
        "1 - (1-p)^H; on that event it cannot converge to a global minimizer, so P(convergence) <= (1-p)^H: "
        "(a) exact p, (b) Monte Carlo against it, (c) after training, (d) the bound.",
        parts=[
            part("T5(a)", "exact inactivity probability: the anchors", ["[GM] Thm 1.1", "[GM] Cor 4.3"],
                 "In exact sympy arithmetic, for d = 1 under the standard normal law and nn.Linear's default "
                 "init: p = 3/8 on D = [0, 1] and p = 1/4 on D = [-1, 1].",
                 _t(M5, "test_exact_anchors"),
                 gates=False, suite_level=True, precision=EXACT,
                 low_precision="Rational arithmetic; --dtype does not enter."),
            part("T5(b)", "Monte Carlo inactivity frequencies match the exact law", ["[GM] Cor 4.3, Thm 4.2", "[GMD]"],
                 "For generated (law, d, box) and H = 1..8: on 2^17 sampled networks the count of inactive "
                 "neurons is consistent with Bin(2^17 H, p) and the count of networks with an inactive neuron "
                 "with Bin(2^17, 1 - (1-p)^H) (exact two-sided binomial tests, false alarm 1e-6 each).",
                 _t(M5, "test_inactive_neuron_probability_matches_exact_law"),
                 gates=False, suite_level=True, precision=REAL,
                 low_precision="p is a real-arithmetic probability and a low-precision initialisation really "
                               "changes it. Outside float64 the networks are drawn in the requested dtype, "
                               "inactivity is decided exactly (float64 on the upcast parameters), and a frequency "
                               "inconsistent with the exact law (same exact tests) is reported as the outcome "
                               "\"measured\" with the fraction, its 1 - 1e-6 Clopper-Pearson interval and p "
                               "(LowPrecisionEffect), never FAIL; a consistent one passes. Measured in bfloat16: "
                               "0.315285 [0.312725, 0.317852] against the exact 0.3125 (nn.Linear's init, "
                               "D = [-3/4, 3/4], H = 6)."),
            part("T5(c)", "trained networks keep an inactive neuron", ["[GM] Thm 4.2, Cor 4.5-4.7",
                                                                       "[GM] Lemmas 4.8-4.9"],
                 "256 networks (nn.Linear's init, H = 2..6, D = [0,1] or [-1,1]) trained 200 full-batch steps "
                 "by the subject (lr between one ulp of 1 in the run's dtype and 0.05): the number without an "
                 "inactive neuron on D is consistent with at most (1-p)^H (one-sided exact binomial test, false "
                 "alarm 1e-6); some network moved (the share that moved is recorded) and the sample holds networks "
                 "with and without an inactive neuron at the start.",
                 _t(M5, "test_trained_networks_keep_an_inactive_neuron"),
                 gates=True, suite_level=False, precision=REAL,
                 low_precision="The bound is a real-arithmetic probability of the initialisation; the networks "
                               "are sampled and trained in the requested dtype and inactivity is decided in it. "
                               "A step below half an ulp of O(1) parameters is absorbed, so the drawn lr is raised "
                               "to at least the dtype's eps (2^-10 in float16, 2^-7 in bfloat16; a no-op in float64 "
                               "and float32) and non-vacuity asks that some network moved, not every one."),
            part("T5(d)", "the bound decreases in width and vanishes", ["[GM] Thm 4.2, Cor 4.5-4.7"],
                 "In exact sympy arithmetic, for generated laws and boxes: 0 < p < 1, (1-p)^H is strictly "
                 "decreasing for H = 1..8 and at most e^{-pH}, and it is below 1e-6 from "
                 "H = ceil(ln 1e-6 / ln(1-p)) on.",
                 _t(M5, "test_bound_decreases_in_width_and_vanishes"),
                 gates=False, suite_level=True, precision=EXACT,
                 low_precision="Rational arithmetic; --dtype does not enter."),
        ]),
    theorem(
        "T6", "Depth makes non-convergence almost certain", ["[OR] Thm 1.2-1.3", "[GMD]", "[LSSK20]"], M6,
        "per-layer sign-event frequency vs 2^{-l(l'+1)}; certified dead-layer frequency >= the bound on independent "
        "samples per depth and non-decreasing in depth (exact sign test); width 2 >= the bound up to depth 96; "
        "born-dead table against a stored independent reference; training on the dead-layer event",
        "With L hidden layers at bounded width, E = {some hidden layer is inactive on D at initialization} has "
        "probability >= 1 - prod_{k>=2}(1 - 2^{-l_k(l_{k-1}+1)}) (a reconstructed, loose bound) -> 1; on E the "
        "realization is constant forever: (a) sign events, (b) P(E), (c) born-dead table, (d) training on E.",
        parts=[
            part("T6(a)", "sign events of a layer", ["[OR] Thm 1.2"],
                 "Under nn.Linear's and the normal init, for 2^15 networks of widths 1-3: the count of layers "
                 "k >= 2 with W_k <= 0 entrywise and B_k < 0 is consistent with probability 2^{-l_k(l_{k-1}+1)} "
                 "(exact two-sided binomial test per width pair, false alarm 1e-6); some event occurred.",
                 _t(M6, "test_layer_sign_event_frequency"),
                 gates=False, suite_level=True, precision=REAL,
                 low_precision="A probability of the real-valued initialisation, sampled in the requested dtype "
                               "and still asserted there: rounding keeps the sign of every weight and bias (a "
                               "float16 entry rounds to 0 with probability about 2e-8), so the law is unchanged; "
                               "passes in float32, bfloat16 and float16 (measured)."),
            part("T6(b)", "a dead layer becomes almost certain with depth", ["[OR] Thm 1.2-1.3", "[GMD]"],
                 "For each depth L >= 2 a fresh, independent sample of 2^13 networks: the frequency of E_L, "
                 "certified by sound interval bounds, is consistent with at least the bound (one-sided exact "
                 "tests), and P(E_L) is non-decreasing in L (exact one-sided sign test on the discordant pairs of "
                 "independent networks, false alarm 1e-6, power 0.998 against a drop from 0.5 to 0.44). At "
                 "width 2 (20000 networks of depth 96 on [-1, 1], both inits) the certified frequency of E_L "
                 "is consistent with at least the bound at depths 2, 4, ..., 64, 96 (exact one-sided tests); "
                 "the depth at which the 1 - 1e-6 Clopper-Pearson lower bound passes 0.99 (measured 19 with "
                 "torch's init) is reported beside the bound's 294, not asserted.",
                 _t(M6, "test_dead_layer_probability_above_bound_and_growing_with_depth",
                    "test_width_two_depth_for_almost_certain_death"),
                 gates=False, suite_level=True, precision=REAL,
                 low_precision="Probabilities of the real-valued initialisation, sampled and certified in the "
                               "requested dtype and still asserted there (not converted to a measurement): passes in "
                               "float32, bfloat16 and float16 (measured, kinkcheck-ci)."),
            part("T6(c)", "born-dead networks ([LSSK20])", ["[LSSK20]", "[OR] Thm 1.3"],
                 "N(0,1) weights and biases, 1-D input on [-1, 1], widths 1-4, depths 2/5/10/20, 2048 networks "
                 "each: every network certified dead is constant on a 33-point grid (relative spread <= 1e-12), "
                 "and each (width, depth) born-dead frequency agrees with stored counts of an independent numpy "
                 "computation (exact piecewise-linear constancy, 20000 networks; not the code under test) by an "
                 "exact two-sample hypergeometric test at 1e-6 (power 0.99 against a difference of about 0.085). "
                 "Clopper-Pearson intervals are recorded; [LSSK20]'s own values are not compared.",
                 _t(M6, "test_born_dead_probability_table"),
                 gates=False, suite_level=True, precision=REAL,
                 low_precision="Outside float64 a (width, depth) frequency that differs from the real-arithmetic "
                               "reference is measured, not judged: LowPrecisionEffect with the worst cell's "
                               "frequency, its 1 - 1e-6 Clopper-Pearson interval and the list of deviating cells "
                               "(bfloat16: w=3, L=20 1882/2048 vs 17600/20000). Certified => constant, nesting and "
                               "the sign-event bound stay asserted in every dtype (the constancy tolerance 1e-12 is "
                               "a float64 figure; exactly-zero dead layers meet it in any dtype)."),
            part("T6(d)", "training on the dead-layer event", ["[OR] Thm 1.2-1.3", "[GM] Lemmas 4.8-4.9"],
                 "Depth-6, width-2 networks on E (at least 8 of 256), 40 full-batch steps of the subject: every "
                 "layer up to the deepest dead one is bit-identical, the deepest dead layer outputs exactly 0, "
                 "the realization is constant on the data (relative 1e-12), the risk is >= Var(Y)(1 - 2 "
                 "gamma_19(u_64)) "
                 "(both computed in float64 from the run's outputs), "
                 "and the output layer moved.",
                 _t(M6, "test_training_on_dead_event_stays_constant"),
                 gates=True, suite_level=False, precision=EXACT,
                 low_precision="Freezing is bit for bit in the requested dtype; the constancy and risk "
                               "tolerances are float64 figures: the realization past a dead layer is exactly "
                               "constant in any dtype (every point sees the same inputs), and the risk and "
                               "variance are computed in float64 from the dtype's outputs."),
        ]),
    theorem(
        "T7", "Embedding critical points; the risk levels of shallow landscapes",
        ["[GM] Lemma 2.11, Prop 2.12, Prop 3.3, Prop 3.11, Cor 3.12, Cor 3.14-3.17, Prop 3.18"], M7,
        "embedding keeps realization/risk/old gradients (derived rounding bounds; exact in rationals) and local "
        "minimality; exact per-width best risks m_0 > m_1 > m_2 > m_3 = 0 with certified local minima; strict "
        "decrease; deleting inactive neurons; clipped ReLU / RePU / d = 2 ingredients",
        "Parts (a)-(f). Exact rational oracle: harness/oracles/shallow_exact.py (shallow networks, exact "
        "gradients, exact best risks m_h of ReLU networks with 1-d input by enumerating activation patterns, "
        "exact local-minimum certificates); float bounds: harness/oracles/embedding.py.",
        parts=[
            part("T7(a)", "an appended dead neuron changes neither realization, risk nor old gradients",
                 ["[GM] Lemma 2.11(i)", "[GM] Prop 2.12(i)", "[GM] Prop 3.3"],
                 "Appending to a hidden layer a neuron with incoming weights 0, bias -1, outgoing weights 0 (16 "
                 "networks, widths 0-5, up to 3 layers, --dtype): realization, risk and the old-coordinate "
                 "gradient differ from the original's by at most the sum of the two evaluations' forward-error "
                 "bounds (gamma_n = nu/(1-nu) times the sums of absolute products of each dot product, propagated "
                 "through the layers; networks with a pre-activation within its bound of 0 have their gradients "
                 "left uncompared), and the new coordinates' gradient is exactly 0. Exactly: for float64 networks "
                 "(dyadic parameters) the harness's embedding gives equal realizations, risks and old gradients and "
                 "0 new gradients in rational arithmetic.",
                 _t(M7, "test_embedded_neuron_preserves_realization_risk_and_gradient", "test_embedded_neuron_exact"),
                 gates=False, suite_level=True, precision=ROUNDING,
                 low_precision="New gradients exactly 0 in any dtype; the other comparisons use the run dtype's unit "
                               "roundoff in the derived bound, the bound itself computed in float64 (passes in "
                               "float16/bfloat16/float32/float64; largest |difference|/bound measured: 0 in "
                               "bfloat16 and float16, 0.051 in float32). The rational half does not use --dtype."),
            part("T7(b)", "embedded local minima remain local minima",
                 ["[GM] Lemma 2.11(ii)", "[GM] Prop 2.12(ii)"],
                 "ReLU, 1-d dyadic data (4-5 points): every exactly certified local minimum of width 1 or 2 "
                 "(pattern constant near it and residual orthogonal to its local design) and every exact global "
                 "minimum, embedded once or twice at random positions with random negative biases, is an exactly "
                 "certified local minimum of the wider risk.",
                 _t(M7, "test_embedded_local_minima_remain_local_minima"),
                 gates=False, suite_level=True, precision=REAL,
                 low_precision="Rational arithmetic; --dtype does not enter (same result in every dtype)."),
            part("T7(c)", "local minima at the H + 1 levels m_0 > ... > m_H",
                 ["[GM] Cor 3.14", "[GM] Cor 3.16", "[GM] Prop 2.12"],
                 "ReLU, 8 points x = 0..7, a target realized by 3 neurons: the exact best risks are "
                 "m_0 = Var(Y) = 5/16 > m_1 = 211/1216 > m_2 = 3/64 > m_3 = 0; each width's exact global minimizer "
                 "embedded into width 3 has risk m_h and is a certified local minimum of L_3, and the second-order "
                 "test (float Hessian eigenvector, exact decrease check) finds no descent there. A critical point "
                 "at level m_0 with exactly 0 gradient that is a saddle fails the certificate and the second-order "
                 "test exhibits an exact decrease. No width-h network trained by L-BFGS (8 fixed starts) has exact "
                 "risk below m_h.",
                 _t(M7, "test_width_H_landscape_has_local_minima_at_H_plus_one_levels"),
                 gates=False, suite_level=True, precision=REAL,
                 low_precision="Rational arithmetic; the Hessian eigenvector and the L-BFGS runs are float64 "
                               "whatever --dtype says (they only propose points that are then checked exactly)."),
            part("T7(d)", "the best risk decreases strictly with the width",
                 ["[GM] Prop 3.11", "[GM] Cor 3.12"],
                 "ReLU, 1-d dyadic data (4-5 points): exact m_0 = Var(Y), m_{h+1} < m_h whenever m_h > 0 (h = 0, 1), "
                 "m_1 not beaten by kinks on a 1/8 grid of each gap, and at the width-h global minimum a ReLU "
                 "correlating with the residual (exact line search) lowers the risk by exactly "
                 "<r,phi>^2/(n|phi|^2).",
                 _t(M7, "test_best_risk_decreases_strictly_with_width"),
                 gates=False, suite_level=True, precision=REAL,
                 low_precision="Rational arithmetic; --dtype does not enter."),
            part("T7(e)", "deleting an inactive neuron; no inactive neuron below m_H + eps",
                 ["[GM] Prop 3.18"],
                 "Exactly (ReLU, 1-d dyadic data, width 1-3): deleting a neuron inactive on the data leaves the "
                 "realization unchanged, so the risk is >= m_{H-1}; with eps = m_{H-1} - m_H (> 0 when m_{H-1} > 0) "
                 "every network drawn with an inactive neuron has risk >= m_H + eps, attained by the width-(H-1) "
                 "minimizer plus an inactive neuron. In floating point (--dtype): the torch deletion of an inactive "
                 "neuron keeps realization and remaining gradients within the derived rounding bounds.",
                 _t(M7E, "test_deleting_an_inactive_neuron_preserves_the_realization",
                    "test_no_inactive_neuron_below_m_H_plus_epsilon",
                    "test_deleting_an_inactive_neuron_in_floating_point"),
                 gates=False, suite_level=True, precision=REAL,
                 low_precision="The rational half does not use --dtype. The float deletion test runs in the "
                               "requested dtype within bounds derived from its unit roundoff (computed in float64): "
                               "up to rounding, passes in float16/bfloat16/float32/float64; its construction (the "
                               "neuron made inactive) is a precondition of the suite (ERROR if it fails)."),
            part("T7(f)", "clipped ReLU, RePU and multi-dimensional ReLU: the hierarchy's ingredients",
                 ["[GM] Cor 3.15", "[GM] Cor 3.17"],
                 "For clipped ReLU (cap 1, 1/2), RePU (p = 2, 3) and ReLU with d = 2, exactly: embedding preserves "
                 "realization and old gradients with 0 new gradients; the best constant embedded into width 3 is a "
                 "certified local minimum; 3 of Prop 3.11's steps from the constant give strictly decreasing risks "
                 "while the residual is nonzero, kept by embedding into width 3.",
                 _t(M7F, "test_clipping_repu_and_multidimensional_hierarchies"),
                 gates=False, suite_level=True, precision=REAL,
                 low_precision="Rational arithmetic; --dtype does not enter.",
                 not_checked="The exact levels m_h (h >= 1) and their local minimality for these activations (the "
                             "oracle computes m_h for ReLU with d = 1 only)."),
        ]),
    theorem(
        "T8", "Risk of critical points", ["[GM] Prop 2.10"], M8,
        "exact critical points of shallow ReLU networks and deep networks with an inactive last layer: gradient "
        "exactly 0 and risk <= c*; L-BFGS end points verified critical (|grad| <= 1e-7): risk minus the exact "
        "output-layer excess <= c*",
        "(1) ReLU, widths 1-2, 1-d dyadic data: among all activation patterns' admissible least-squares points, "
        "a saddle at level c*, a dead network and their output-bias shifts, every point whose exact gradient is 0 "
        "has risk <= c* = Var(Y) in rationals. (2) Deep networks (float64 weights taken exactly) with the last "
        "hidden layer strictly inactive and output bias mean(Y): exact gradient 0 and risk = c*. (3) Deep "
        "networks trained by L-BFGS (4 per example, 2 starting dead), end points with float64 gradient "
        "sup-norm <= 1e-7: on the computed last-layer features, exactly, risk - (1/2) g^T H^+ g <= c* "
        "(g the output layer's exact gradient; the subtracted excess is recorded, ~1e-17 relative).",
        tests=_t(M8, "test_exact_critical_points_of_shallow_networks",
                 "test_exact_critical_points_with_inactive_last_layer",
                 "test_trained_critical_points"),
        gates=False, suite_level=True, precision=REAL,
        low_precision="Exact-arithmetic claims checked in rationals; the trained part (L-BFGS, the 1e-7 "
                      "criticality filter) runs in float64 whatever --dtype says, so every dtype gives the same "
                      "result (measured: passes in float16, bfloat16, float32).",
        not_checked="Clarke-critical points with a kink on a data point (only points whose pattern is locally "
                    "constant, or whose PyTorch generalized gradient is exactly 0, are checked)."),
    theorem(
        "T9", "Adam with non-vanishing learning rates does not converge", ["[NV] Thm 1.1"], M9,
        "batched Adam chains (reference recursion and adam subjects): successors of one state, and independent "
        "chains, stay apart with probability >= 1/4 at late steps (exact tests); contrasts on the subject: with "
        "lr/n every step obeys lr_n B_n, with batches n^4 the coupling vanishes",
        "On f(theta) = E(theta - X)^2 (Gaussian, exponential or two-point X), mini-batches of 1-4 and generated "
        "beta1, beta2, eps, constant lr, for the reference recursion and for adam subjects: pairs of chains "
        "sharing a late state and stepping on independent batches are (1 - beta1) lr/100 apart with frequency "
        "consistent with >= 1/4 at n = 100, 200, 399, pairs fed identical batches stay identical, and "
        "independent chains are that far apart with frequency >= 1/4 at n = 200, 400 (one-sided exact tests, "
        "false alarm 1e-6 each). Contrasts on adam subjects: with lr_n = lr/n every step of every chain is at "
        "most lr_n B_n (B_n Adam's step bound, rounding allowed from the unit roundoff) while successors stay "
        "(1 - beta1) lr_n/100 apart with frequency >= 1/4; with batches J_n = n^4 at constant lr at most 5% of "
        "the pairs are (1 - beta1) lr/100 apart at n = 399.",
        tests=_t(M9, "test_reference_adam_chains_do_not_converge", "test_adam_subject_chains_do_not_converge",
                 "test_adam_subject_decaying_learning_rate_contrast", "test_adam_subject_growing_batch_contrast"),
        gates=True, suite_level=True, precision=REAL,
        low_precision="A statement about the real-valued stochastic process. The reference chains run in float64 "
                      "whatever --dtype says; the subject's chains run in the requested dtype, with eps drawn "
                      "among the values non-zero in that dtype (1e-8 rounds to 0 in float16: eps = 0 is outside "
                      "the theorem; the resulting 0/0 is carried in docs/torch-deviations/). The per-step bound of "
                      "the lr/n contrast is derived from the dtype's unit roundoff and, outside float64, the "
                      "underflow of the moments (half the smallest subnormal per rounded update). A coupling, "
                      "spread or growing-batch frequency that misses its bound outside float64 is measured "
                      "(LowPrecisionEffect with its Clopper-Pearson interval): in float16 lr/n falls below half an "
                      "ulp of theta and the chains really stop.",
        not_checked="That Theta_n converges when J_n grows: THEOREMS.md says it does, but measured with the "
                    "reference recursion (beta1 = 0, beta2 = 0.5, eps = 1e-8, lr 0.05, J_n = n^4) the spread "
                    "across chains stays at (lr/2)^2: a deterministic +-lr/2 cycle. Only the randomness of the "
                    "next step vanishes, and that is what is asserted: at eps = 0.1, far above the batch noise, "
                    "where it holds (at the drawn eps it is measured). That contrast has no broken subject of "
                    "its own: the realistic bugs tried are caught by the other T9 tests or not at eps = 0.1."),
    theorem(
        "T10", "NDGM on the LASSO never settles",
        ["[CUT] eqs. (3), (7)-(8), (15)-(18)", "[CUT] Prop 4.1, B.1, B.2, Table 1"], M10,
        "NDGM (sgd subjects on lam*||b||_1) equals the Fraction recursion bit for bit; never sparse; exact 2-cycle; "
        "absorbed at 0; mean cycle l1 = d alpha lam / 2 and a separated lam_1 < lam_2 pair; ridge variant within "
        "64 ulp until a near-tie and at its limit cycle +-s/(1+q); eq. (3)'s dead region is the LASSO bit for bit",
        "sgd subjects on lam*||b||_1 with dyadic alpha, lam, b_0 (s = alpha lam): the float64 trajectory equals the "
        "Fraction recursion b_{k+1} = b_k - s sign(b_k), sign(0) = 0, bit for bit. With a ridge term "
        "(1 - 2 alpha lam_2 in (0, 1)) it matches the Fraction recursion within 64 ulp of the largest coordinate "
        "(2^-52 scale) up to the first near-tie, never hits 0, and ends within q^{N-K} D_K + 8u scale/(1-q) of "
        "the exact limit cycle +-s/(1+q), q = 1 - 2 alpha lam_2 (exactly: inside the band the signs alternate and "
        "b_{k+1} + sigma c = q (b_k - sigma c), c = s/(1+q)). On eq. (3) with y <= 0 and data keeping "
        "X b < 0 along the exact orbit, NDGM equals the LASSO recursion bit for bit. Parts: (a) never sparse, "
        "(b) 2-cycle, (c) absorbed at 0, (d) the lambda paradox.",
        tests=_t(M10, "test_ndgm_equals_the_exact_recursion", "test_ridge_variant",
                 "test_dead_region_of_relu_regression_is_lasso"),
        gates=True, suite_level=False, precision=REAL,
        low_precision="Outside float64 b_0 is drawn on the dtype's grid 2^-p (p significant bits), where every "
                      "iterate of the exact recursion is a float of the dtype, and the same bit-for-bit claims are "
                      "asserted. Where an exact orbit still leaves the dtype (eq. (3)'s first coordinate > 1, the "
                      "lambda paradox's pair) the subject's deviation from it is reported as a measured "
                      "exact-arithmetic effect (LowPrecisionEffect). The ridge variant's tolerances use the "
                      "dtype's eps = 2u (64 eps scale; 8u scale/(1-q)).",
        parts=[
            part("T10(a)", "never sparse", ["[CUT] Prop B.1", "[CUT] Prop 4.1"],
                 "When no |b_0,i| is a multiple of s, no coordinate of the subject's trajectory is ever 0.",
                 _t(M10, "test_never_sparse_and_two_cycle"),
                 gates=True, suite_level=False, precision=REAL),
            part("T10(b)", "the exact 2-cycle", ["[CUT] Prop B.2, eqs. (16)-(18)"],
                 "With K = floor(|b_0,i|/s), from step K on coordinate i alternates exactly between "
                 "c = sign(b_0,i)(|b_0,i| - K s) and c - sign(b_0,i) s, 0 < |c| < s, and is still moving at "
                 "the last step.",
                 _t(M10, "test_never_sparse_and_two_cycle"),
                 gates=True, suite_level=False, precision=REAL),
            part("T10(c)", "absorbed at 0", ["[CUT] Table 1", "[CUT] eq. (15)"],
                 "When |b_0,i| = K s the coordinate is non-zero before step K, exactly 0 at step K and exactly 0 "
                 "ever after.",
                 _t(M10, "test_zero_is_absorbing"),
                 gates=True, suite_level=False, precision=REAL,
                 low_precision="Staying at 0 once there holds exactly in any dtype (zero subgradient, zero step); "
                               "reaching 0 at step K needs exact arithmetic."),
            part("T10(d)", "the lambda paradox", ["[CUT] eq. (8)", "[CUT] Prop B.11"],
                 "On the cycle, the mean of consecutive l1 norms is exactly d s / 2 for lam and for 2^j lam "
                 "(j = 1..3); and for lam_1 = s_1/alpha (s_1 the largest power of two with d s_1 <= ||b_0||_1/2) "
                 "and lam_2 = (4 max|b_0| + 1)/alpha every late l1 norm of the lam_2 run exceeds every late l1 "
                 "norm of the lam_1 run.",
                 _t(M10, "test_lambda_paradox"),
                 gates=True, suite_level=False, precision=REAL),
        ]),
    theorem(
        "T11", "Momentum, Adam and RMSProp variants on the LASSO", ["[CUT] Prop B.3, B.6, B.9, B.10, Table 1"], M11,
        "momentum/Nesterov jump off 0; Adam steps <= alpha and |m_k| <= lam(1-beta1^k), bounces off 0, run formula "
        "exact (Fraction) and against exp_avg; RMSProp stays at 0",
        "On lam*||b||_1, a state 'b_k = 0 with history' is made by setting the parameter to 0 after step r; the "
        "buffers are recomputed exactly (Fraction) from the observed signs. Parts: (a) momentum, (b) Adam, "
        "(c) RMSProp.",
        parts=[
            part("T11(a)", "momentum jumps off 0", ["[CUT] Prop B.3", "[CUT] Table 1"],
                 "Momentum and Nesterov subjects: a coordinate set to 0 whose recomputed buffer mu*buf is larger "
                 "than 1e-9 lam moves, at the next step, to a non-zero value of sign opposite to the buffer.",
                 _t(M11, "test_momentum_jumps_off_zero"),
                 gates=True, suite_level=False, precision=EXACT,
                 low_precision="Asserted as a sign and a non-zero value in the requested dtype; buffers below "
                               "1e-9 lam are not judged."),
            part("T11(b)", "Adam's first moment is bounded, Adam bounces off 0", ["[CUT] Prop B.6, B.9, B.10"],
                 "Adam subjects: every step is at most alpha (relative slack 1e-12) and, where the subject "
                 "exposes exp_avg, |m_k| <= lam(1 - beta1^k) + 4k 2^-52 lam; a coordinate set to 0 with a "
                 "recomputed m above 1e-9 lam moves to a non-zero value against m's sign; along every run of "
                 "constant sign, m_{k0+r} = beta1^r m_{k0} + (1 - beta1^r) lam s exactly in Fraction (dyadic "
                 "beta1), and exp_avg equals it bit for bit when every intermediate is a float64 (else within "
                 "4k ulps of lam).",
                 _t(M11, "test_adam_first_moment_bound", "test_adam_bounces_off_zero", "test_adam_run_formula"),
                 gates=True, suite_level=False, precision=ROUNDING,
                 low_precision="The run formula is exact in Fraction; exp_avg is compared bit for bit where every "
                               "intermediate is a normal float of the dtype, else within 4k eps lam (eps = "
                               "finfo(dtype).eps); the step bound's slack is 1e-12 in float64 and 8u + u(|b_k| + "
                               "|b_{k+1}|)/alpha elsewhere; a low-precision iterate absorbed at 0 ends the check "
                               "(the v_k formula's hypothesis)."),
            part("T11(c)", "RMSProp stays at 0", ["[CUT] Table 1", "[CUT] eqs. (22)-(23)"],
                 "RMSprop subjects without momentum: a coordinate set to 0 after step r stays exactly 0 for 1-20 "
                 "further steps (it was non-zero before).",
                 _t(M11, "test_rmsprop_stays_at_zero"),
                 gates=True, suite_level=False, precision=EXACT,
                 low_precision="Zero subgradient, zero update: exact in the requested dtype."),
        ]),
    theorem(
        "T12", "RMSProp is blind to lambda; scale invariance", ["[CUT] Prop B.4, B.5, B.11, eqs. (22)-(27)"], M12,
        "eps = 0 adaptive methods invariant to lam bit for bit for power-of-two ratios, within 16(k+1) ulp "
        "otherwise until a near-tie; exact RMSProp orbit certified never 0 (Prop B.4) and float64 zeros shown to "
        "be rounding absorptions; exact band; phase transition against NDGM (lam = 1 a tie); Appendix B.4's "
        "numbers; scale invariance on random networks; SGD not invariant",
        "With eps = 0, RMSProp's update g/sqrt(v) does not change when the loss is multiplied by c > 0: "
        "(a) lambda invariance, (b) the closed form, (c) non-sparsity and the band, (d) scale invariance on "
        "any loss, (e) the phase transition.",
        parts=[
            part("T12(a)", "lambda invariance", ["[CUT] Prop B.5, eqs. (22)-(27)"],
                 "eps-free subjects (RMSprop, Adam, Adagrad families with eps = 0): the trajectories on "
                 "lam*||b||_1 and 2^j lam*||b||_1 (j in -12..12, 5-50 steps) are bit-identical; for a ratio in "
                 "[1.01, 100] they differ by at most 16(k+1) 2^-52 max(1, max|b|) + lr-scaled margin at step k, "
                 "the comparison stopping at the first near-tie.",
                 _t(M12, "test_lambda_invariance_bit_for_bit", "test_lambda_invariance_other_ratios"),
                 gates=True, suite_level=False, precision=EXACT,
                 low_precision="Power-of-two ratios: bit for bit in any dtype, lam and 2^j lam drawn inside the "
                               "dtype's square-safe band (every gradient lam, c lam^2 with c >= 2^-10 and a sum of "
                               "steps + 1 squares a normal number: all of 2^-10..2^10 in float64, float32 and "
                               "bfloat16; about [0.25, 25] in float16). Other ratios: 16(k+1) eps scale with the "
                               "dtype's eps, lam and ratio*lam in the same band."),
            part("T12(b)", "the RMSProp closed form", ["[CUT] eqs. (22)-(25)"],
                 "RMSprop subjects (eps = 0, no momentum, 5-120 steps): b_{k+1} = b_k - alpha sign(b_k)/"
                 "sqrt(1 - rho^{k+1}) against a 50-digit mpmath oracle within 16(k+1) ulp(1) of the scale, up to "
                 "the first near-tie.",
                 _t(M12, "test_rmsprop_closed_form"),
                 gates=True, suite_level=False, precision=ROUNDING,
                 low_precision="16(k+1) eps scale with the dtype's eps = finfo(dtype).eps, lam drawn in the "
                               "dtype's square-safe band (see T12(a)); the band and absorption checks run in "
                               "float64 only."),
            part("T12(c)", "never sparse, then the band", ["[CUT] Prop B.4, B.5, eqs. (25)-(26)"],
                 "Suite-level: the exact RMSProp orbit on the LASSO (eps = 0, alpha = 2^-4..2^-7, rho up to "
                 "0.999, 500-2000 steps) is certified never 0 by interval arithmetic. On RMSprop subjects (the "
                 "closed-form runs): the exact orbit is certified non-zero, any float64 zero is a rounding "
                 "absorption (the float run stays within the a-priori rounding bound of the exact recursion "
                 "under its own signs, and stays 0), and once an iterate is inside the band it stays inside "
                 "up to the rounding bound. Appendix B.4's worked numbers (d = 100, alpha = 0.01 reconstructed from "
                 "the "
                 "stated bounds, rho = 0.99): RMSProp loss < 0.01 and NDGM loss < 1e-4 at lam = 0.01, < 100 and "
                 "< 1e4 at lam = 100, and the per-iterate ordering each way (exact orbit over the last 100 of 500 "
                 "steps; NDGM on its Prop B.2 cycle).",
                 _t(M12, "test_rmsprop_exact_orbit_never_zero", "test_rmsprop_closed_form",
                    "test_worked_numbers_of_appendix_b4"),
                 gates=True, suite_level=True, precision=REAL,
                 low_precision="'Never 0' is about exact arithmetic (certified in interval arithmetic, --dtype "
                               "does not enter); float64 zeros are rounding absorptions, counted and bounded."),
            part("T12(d)", "scale invariance on any loss; SGD is not", ["[CUT] Prop B.5", "[CUT] eq. (15)"],
                 "eps-free subjects trained 1-25 steps on the MSE of random networks (smooth activation R_4) "
                 "reach bit-identical parameters on f and 2^j f (j in -10..10), and moved. SGD subjects on f "
                 "and 2^j f (j = 1..4) end at different parameters.",
                 _t(M12, "test_scale_invariance_on_networks", "test_sgd_is_not_scale_invariant"),
                 gates=True, suite_level=False, precision=REAL,
                 low_precision="Bit for bit in float32 and float64. In float16 and bfloat16 an exact-arithmetic "
                               "claim: sums of 8- or 11-bit numbers cancel to exactly-zero gradients (0/0 with "
                               "eps = 0 in any implementation) and (1 - beta2) g^2 leaves float16's normal range, "
                               "where scaling no longer commutes with rounding; the share of differing parameters "
                               "(or a non-finite run) is measured and reported, never FAIL. T12(a) keeps the "
                               "bit-for-bit check in those dtypes. The SGD contrast runs in any dtype."),
            part("T12(e)", "the phase transition against NDGM", ["[CUT] Prop B.11, Prop B.5, Fig. 6"],
                 "RMSprop subjects, lam = 2^-3..2^3, dyadic alpha, 500-2000 steps, window = the last 100: NDGM's "
                 "window-mean l1 norm (Fraction oracle) is exactly d alpha lam / 2; the exact RMSProp orbit "
                 "(certified intervals) has its window mean in (d alpha/2, d alpha (1 + 2 delta)/2], so NDGM "
                 "is below RMSProp for lam < 1 and above for lam >= 2; the float64 subject tracks the exact "
                 "recursion under its own signs within the rounding bound, and the float ordering is asserted "
                 "where the absorbed count and the bounds decide it (lam = 1: no ordering claimed).",
                 _t(M12, "test_phase_transition_ndgm_vs_rmsprop"),
                 gates=True, suite_level=False, precision=REAL,
                 low_precision="The NDGM side and the RMSProp orbit are exact (rational / interval) figures; "
                               "the subject is compared within a float64 rounding bound."),
        ]),
    theorem(
        "T13", "Edge of stability on Lipschitz convex losses", ["[CUT] Prop 5.1, eq. (10), Fig. 4", "[CKLKT21]"], M13,
        "subgradient inequality and best-iterate bound at every step; Huber bounded above 2/lambda_max while least "
        "squares diverges (lambda_max by HVP power iteration vs eigvalsh); exact Huber orbits",
        "For convex G-Lipschitz f and a constant step, gradient descent never diverges, even above "
        "2/sharpness: (a) the inequality, (c) Huber against least squares, (d) exact 1-D orbits. "
        "THEOREMS.md's (b) (bounded at every step size) has no test of its own; (c) checks it for Huber.",
        parts=[
            part("T13(a)", "the subgradient-method inequality", ["[CUT] Prop 5.1"],
                 "sgd subjects on |x - x*|, lam||x - x*||_1 and overparameterized Huber regression (f* = 0), "
                 "alpha = e^{[-6, 2]}/G, 5-80 steps: at every step ||x_{k+1}-x*||^2 <= ||x_k-x*||^2 - "
                 "2 alpha (f(x_k) - f*) + alpha^2 G^2 and min_{i<=k} f(x_i) - f* <= (||x_0-x*||^2 + "
                 "alpha^2 G^2 (k+1))/(2 alpha (k+1)), with relative slack 1e-9.",
                 _t(M13, "test_subgradient_inequality_every_step"),
                 gates=True, suite_level=False, precision=ROUNDING,
                 low_precision="Distances and losses are evaluated in float64 on the subject's iterates with f* = "
                               "f(x*) on the rounded data; the slack adds the derived rounding of each step "
                               "(u = finfo(dtype).eps/2: the update's sum and product, the subgradient's rounding)."),
            part("T13(c)", "Huber stays bounded where least squares diverges", ["[CUT] Prop 5.1, eq. (10), Fig. 4",
                                                                                  "[CKLKT21]"],
                 "lambda_max of least squares by Hessian-vector power iteration agrees with numpy's eigvalsh "
                 "within 1e-8; at alpha = c 2/lambda_max (c = 2, 4, 8), 60 steps of Huber regression stay inside "
                 "the row-space bound max(||P e_0||, R + alpha G) with finite losses, while 40 steps of least "
                 "squares on the same data grow the error more than 1e6-fold. Along the trajectory (sgd subjects on "
                 "Huber regression): sharpness at the visited iterates by HVP power iteration agrees with eigvalsh of "
                 "the active rows' Gram matrix; at eta = 1/S sharpness <= S < 2/eta and the loss never rises (up to "
                 "a derived rounding slack); at eta = 2/S or 4/S the loss stays finite and <= G sqrt(||x_0 - x*||^2 "
                 "+ k eta^2 G^2). The edge-of-stability signal itself (share of steps with sharpness above 2/eta, "
                 "loss increases) is measured and reported, not asserted: the theory fixes neither.",
                 _t(M13, "test_huber_bounded_least_squares_diverges", "test_sharpness_along_the_trajectory"),
                 gates=True, suite_level=False, precision=ROUNDING,
                 low_precision="Oracles (HVP, eigvalsh, SVD, QR) run in float64 on the data the subject sees; "
                               "the row-space bound adds the derived rounding of y = fl(X w*), of each residual and "
                               "of each update; least squares runs fewer steps where 40 would overflow the dtype "
                               "(float16), with the growth target scaled to 10^(6N/40)."),
            part("T13(d)", "exact Huber orbits", ["[CUT] eq. (10), Fig. 4", "[CUT] Prop 5.1"],
                 "1-D Huber with dyadic delta, eta, x_0: the subject's orbit equals the Fraction orbit bit for bit "
                 "(when the orbit stays within float64's exact range); delta = 1, x_0 = 5: eta = 3 gives the "
                 "2-cycle (2, -1) at every one of 30 steps, eta = 1.5 matches bit for bit down to |x| <= u delta "
                 "(u the dtype's unit roundoff) and ends below 2^-40 (or the dtype's smallest normal where that "
                 "is larger).",
                 _t(M13, "test_huber_orbits_exact", "test_huber_two_cycle_and_convergence"),
                 gates=True, suite_level=False, precision=REAL,
                 low_precision="Exact rational orbits, asserted bit for bit in any dtype over the iterates that "
                               "are normal floats of that dtype (generated orbits leaving it are counted, not "
                               "compared; float16's eta = 1.5 orbit up to 2^-14, past u delta = 2^-11)."),
        ]),
    theorem(
        "T14", "Non-smooth rates and the capture theorem", ["[CUT] Sec. 3, eqs. (5)-(6), Prop A.1, Sec. A.1.2-A.1.3"],
        M14,
        "NDGM needs order 1/eps^2 steps on a worst-case family (exact step counts, exponent 2) and 1/eps on a sharp "
        "instance, GD on a quadratic logarithmically many; capture after a late-starting monotone norm on a "
        "quadratic; the paper's A.1.3 experiment reproduced bit for bit and shown to be a rounding plateau, not "
        "capture",
        "Constant-step NDGM on a non-smooth Lipschitz loss cannot beat its oscillation: (a) rates, (b) the "
        "capture theorem and its failure.",
        parts=[
            part("T14(a)", "rates: 1/eps^2 in the worst case, 1/eps on a sharp instance, log for GD",
                 ["[CUT] Sec. 3, eqs. (5)-(6)"],
                 "sgd subjects. Worst case: on f_eps(b) = g|b_1| + kappa eps |b_2| from a dyadic start that "
                 "g alpha does not divide, the subject's trajectory at alpha in {eps/g^2, 2 eps/g^2} equals the "
                 "Fraction recursion bit for bit, its steps-to-eps equal the exact counts, every constant step "
                 "needs at least (r_2 - 1/kappa) g^2/(2 kappa eps^2) steps (derived in the oracle), and the best "
                 "count's exponent in 1/eps is 2 +- 0.25. Sharp instance: on G||x||_1 at alpha = eps/(d G^2) the "
                 "exponent is 1 +- 0.25; GD on a strongly convex quadratic reaches eps within "
                 "log(f_0/eps)/(2 log(1/(1-mu))) + 1 steps and its exponent is below NDGM's.",
                 _t(M14, "test_worst_case_family_needs_inverse_eps_squared",
                    "test_sharp_instance_is_inverse_eps_and_gd_logarithmic"),
                 gates=True, suite_level=False, precision=REAL,
                 low_precision="The worst-case instance is exact in float64/float32 and skips in float16/bfloat16 "
                               "(its data are not representable); the sharp instance runs in the requested dtype.",
                 not_checked="A lower bound at the absorbing steps of Prop B.1 (g alpha dividing |b_1(0)|): none "
                             "applies there."),
            part("T14(b)", "capture, and the monotone loss without capture", ["[CUT] Prop A.1, Sec. A.1.2-A.1.3"],
                 "Capture (A.1.2): on 1/2 x^T A x (rational Householder eigenbasis, condition 16-64, step 1/L "
                 "or 1/(2L)) the exact infinity-norm rises at step 1; the subject stays within a unit-roundoff "
                 "bound of exact GD, its loss strictly decreases at every step, its norm rises at step 1 and "
                 "strictly decreases from the derived k_bar to step 120. Stand-in (eq. (3)'s dead region, "
                 "C + 1e-3||b||_1, lr x 0.9 on every increase, 2000 steps): the float loss never increases over "
                 "the last 400 steps while ||b||_1 at even and odd steps forms two bands with gap > 100 x width "
                 "and lam (gap + width) < ulp(C). The paper's run (slow; A.1.5's code path, seed 42, 5000 rows, "
                 "6000 iterations, torch.optim.SGD): the last 1000 losses are exactly 4461.786221675728; every "
                 "exact loss change in the tail is below half an ulp; the exact loss rises at some tail step; "
                 "every tail iterate has an active row; ||w||_1 rises at some tail step: a rounding plateau at the "
                 "kink around 0, not capture and not the dead region (there the band criterion does not hold).",
                 _t(M14, "test_capture_after_a_late_starting_monotone_norm", "test_monotone_loss_without_capture",
                    "test_paper_experiment_is_a_rounding_plateau"),
                 gates=True, suite_level=True, precision=REAL,
                 low_precision="The monotone loss is itself a float64 rounding effect (the suite says so); the "
                               "paper's run is float64 by construction; the capture test skips when the dtype's "
                               "rounding exceeds its margin."),
        ]),
]


# ------------------------------------------------------------------------------------------------
def entries() -> list[Entry]:
    """Every entry, theorems and parts, in catalogue order."""
    out = []
    for e in CATALOG:
        out.append(e)
        out.extend(e.parts)
    return out


_ID = re.compile(r"^(T\d+)\s*(?:\(([a-z])\))?$")


def lookup(theorem_id: str) -> Entry | None:
    """The entry of "T2" or of a part "T2(d)" (also written "T2 (d)"); None when not catalogued."""
    m = _ID.match(theorem_id.strip())
    if not m:
        return None
    wanted = m.group(1) + (f"({m.group(2)})" if m.group(2) else "")
    return next((e for e in entries() if e.id == wanted), None)


# --- rendering ----------------------------------------------------------------------------------
def text() -> str:
    """The plain-text listing of ``kinkcheck theorems``."""
    rows = [(e.id, e.title, e.gate_label, e.precision, e.source) for e in entries()]
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    head = ("id", "theorem", "gates", "in float16/bfloat16/float32", "source")
    w = [max(a, len(b)) for a, b in zip(w, head)]
    lines = ["  ".join(f"{c:{w[i]}}" if i < 4 else c for i, c in enumerate(head))]
    for e, r in zip(entries(), rows):
        indent = "  " if "(" in e.id else ""
        cells = [r[0], indent + r[1], r[2], r[3], r[4]]
        lines.append("  ".join(f"{c:{w[i] + (2 if i == 1 else 0)}}" if i < 4 else c for i, c in enumerate(cells)))
    lines += ["", "gates: yes = depends on the optimizer/activation under test; suite-level = a fact about the "
              "suite's own oracles; both = has parts of each kind.",
              "details: kinkcheck theorems --markdown (docs/theorems.md in a checkout)",
              "run them: pytest --pyargs kinkcheck.theorems   (or pytest theorems/ in a checkout)"]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|")


def _tests_md(tests) -> str:
    return ", ".join(f"`{t}`" for t in tests)


def markdown() -> str:
    """The full catalogue as Markdown: docs/theorems.md is exactly this text."""
    out = [f"<!-- Generated from kinkcheck/catalog.py: `{REGENERATE}` (or `python -m kinkcheck.catalog "
           "--write`). Edit the catalogue, not this file. -->",
           "# The theorem catalogue", "",
           "Every theorem ID the suite cites (`T2`, `T2(d)`) is defined here: the claim as the suite checks it "
           "(no sentence claims more than the assertions behind it; what the specification says beyond them is "
           "listed under *not checked*), its sources, the tests that encode it, whether it gates a subject, and "
           "how it holds in low precision.", "",
           "- **gates a subject: yes** — the outcome depends on the optimizer or activation under test; the "
           "test runs in a gate (`--optimizer`/`--activation`). **suite-level** — a fact about the suite's own "
           "oracles and samplers, independent of the subject; a gate run skips it unless `--kinkcheck-all-theorems`. "
           "**both** — parts of each kind.",
           "- **in float16/bfloat16/float32:**"]
    out += [f"  - *{k}*: {v}" for k, v in PRECISION_CLASSES.items()]
    out += ["  The *low precision* line of an entry says what the suite does today outside float64 where that "
            "differs from its class.", "",
            "## Sources", "", "| short name | paper |", "|---|---|"]
    out += [f"| {k} | {_md_cell(v)} |" for k, v in SOURCES.items()]
    out += ["", "## Summary", "", "| ID | title | gates a subject? | in float16/bfloat16/float32 | sources |",
            "|---|---|---|---|---|"]
    out += [f"| {e.id} | {_md_cell(e.title)} | {e.gate_label} | {e.precision} | {_md_cell(e.source)} |"
            for e in entries()]
    for e in CATALOG:
        out += ["", f"## {e.id} — {e.title}", ""] + _entry_md(e)
        for p in e.parts:
            out += ["", f"### {p.id} — {p.title}", ""] + _entry_md(p)
    return "\n".join(out) + "\n"


def _entry_md(e: Entry) -> list[str]:
    lines = [f"*Sources:* {e.source}. *Gates a subject:* {e.gate_label}. "
             f"*In float16/bfloat16/float32:* {e.precision}.", "", e.statement]
    if e.low_precision:
        lines += ["", f"*Low precision:* {e.low_precision}"]
    if e.not_checked:
        lines += ["", f"*Not checked:* {e.not_checked}"]
    if e.tests:
        lines += ["", f"*Tests:* {_tests_md(e.tests)}"]
    elif e.parts:
        lines += ["", "*Modules:* " + ", ".join(f"`{m}`" for m in e.modules)]
    return lines


README_START, README_END = "## The theorems\n", "\n## "


def readme_section() -> str:
    """README's "## The theorems" section (up to the next heading), generated from the catalogue."""
    out = ["## The theorems", "",
           "The full catalogue — each part's precise statement as the suite checks it, its sources, its tests "
           "and its precision class — is [docs/theorems.md](docs/theorems.md) (`kinkcheck theorems` prints "
           "it). *Gates a subject*: yes = depends on the optimizer/activation under test, suite-level = "
           "independent of it (a gate run skips it unless `--kinkcheck-all-theorems`), both = parts of each kind.", "",
           "| ID | source | what is checked | gates a subject? | in float16/bfloat16/float32 |",
           "|---|---|---|---|---|"]
    out += [f"| {e.id} | {_md_cell(e.source)} | {_md_cell(e.summary)} | {e.gate_label} | {e.precision} |"
            for e in CATALOG]
    return "\n".join(out) + "\n"


def replace_readme_section(readme: str) -> str:
    start = readme.index(README_START)
    end = readme.index(README_END, start + len(README_START))
    return readme[:start] + readme_section() + readme[end:]


def main(argv=None) -> int:
    """``python -m kinkcheck.catalog [--markdown | --write]``."""
    argv = sys.argv[1:] if argv is None else argv
    if "--write" in argv:
        (ROOT / "docs").mkdir(exist_ok=True)
        (ROOT / "docs" / "theorems.md").write_text(markdown(), encoding="utf-8")
        readme = ROOT / "README.md"
        readme.write_text(replace_readme_section(readme.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"wrote {ROOT / 'docs' / 'theorems.md'} and the theorem table of {readme}")
        return 0
    sys.stdout.write(markdown() if "--markdown" in argv else text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
