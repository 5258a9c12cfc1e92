"""T9 — Adam with non-vanishing learning rates does not converge.

[NV] Thm 1.1 (reconstructed form, THEOREMS.md T9): on f(θ) = E(θ − X)² with Var X > 0, mini-batches
of size J and learning rates γ_n ≥ γ > 0, Adam (any β₁ ∈ [0,1), β₂ ∈ (0,1), ε > 0) does not
converge in probability: two independent successors of the same state stay ≥ δγ apart with
probability bounded below, uniformly in n. With γ_n = c/n (Robbins–Monro) that statistic → 0.
"""
import pytest
from hypothesis import event, given, note, settings
from hypothesis import strategies as st

from kinkcheck.harness.experiments.adam_chains import LAWS, ReferenceAdam, SubjectAdam, coupled_run
from kinkcheck.harness.core.examples import scaled
from kinkcheck.harness.core.records import figure
from kinkcheck.harness.core.stats import ALPHA, assert_at_least, assert_at_most

CHAINS = 2048  # pairs per split step (and independent chains for the spread)
STEPS = 400
SPLITS = [100, 200, STEPS - 1]  # "late steps": the coupling is checked at each
# Lower bound on P(|θ' − θ''| ≥ δγ) asserted uniformly in n, with δ = (1 − β₁)/100: a two-point X
# with J = 1 gives identical mini-batches with probability 1/2, so no law can promise more than
# that; 1/4 leaves room (measured >= 0.48 over the generated grid). Exact one-sided test at ALPHA
# per split, CHAINS pairs: a true probability of 0.3 is detected below 1/4 with power 0.99.
COUPLING_FLOOR = 0.25
VANISHED = 0.05  # decaying γ_n = γ/n: frequency at the last split asserted ≤ this (measured ≤ 0.01)
SPREAD_SLACK = 4  # sampling error allowance of the two variance estimates (2048 and 6144 chains)


@st.composite
def chain_configs(draw):
    cfg = dict(beta1=draw(st.sampled_from([0.0, 0.5, 0.9])),
               beta2=draw(st.sampled_from([0.5, 0.9, 0.99, 0.999])),
               eps=draw(st.sampled_from([1e-8, 1e-4, 0.1])),
               lr=draw(st.floats(0.005, 0.1)),
               batch=draw(st.integers(1, 4)),
               law=draw(st.sampled_from(LAWS)),
               seed=draw(st.integers(0, 2**32 - 1)))
    note(f"chain config: {cfg}")
    return cfg


def run_chains(cfg, placement, make, decaying=False):
    lr = (lambda k: cfg["lr"] / k) if decaying else (lambda k: cfg["lr"])
    return coupled_run(make, cfg["law"], cfg["batch"], CHAINS, SPLITS, STEPS, lr,
                       placement.generator(cfg["seed"]), snapshot_steps=(STEPS // 2, STEPS),
                       dtype=placement.dtype, device=placement.device)


def check_nonvanishing(cfg, run, what):
    """Coupling at every late split (exact one-sided test), and a positive, settled spread."""
    assert run.coupled_exactly, f"{what}: paired chains fed identical batches diverged (not deterministic)"
    delta = (1 - cfg["beta1"]) / 100 * cfg["lr"]
    for s in run.splits:
        far = int((run.differences[s] >= delta).sum())
        assert_at_least(far, CHAINS, COUPLING_FLOOR, ALPHA,
                        what=f"{what}: pairs {delta:.3g} apart one step after the split at n={s}")
        figure("min coupling frequency (constant lr)", far / CHAINS, keep="min")
    # Var θ_{s+1} ≥ E Var(θ_{s+1} | F_s) = E(θ' − θ'')²/2: the coupling gives the spread a floor.
    floor = float((run.differences[SPLITS[-1]] ** 2).mean()) / 2
    late, mid = float(run.snapshots[STEPS].var()), float(run.snapshots[STEPS // 2].var())
    assert floor > 0 and late >= floor / SPREAD_SLACK, f"{what}: spread {late:.3g} below floor {floor:.3g}"
    assert 1 / 3 <= late / mid <= 3, f"{what}: spread not settled ({mid:.3g} at n={STEPS // 2}, {late:.3g} at n={STEPS})"
    figure("stationary spread / coupling floor (min)", late / floor, keep="min")


@pytest.mark.theorem("T9")
@settings(max_examples=scaled(4))
@given(cfg=chain_configs())
def test_reference_adam_chains_do_not_converge(placement, cfg):
    """[NV] Thm 1.1: for the papers' Adam recursion with constant γ, two independent successors of
    the same late state are ≥ (1 − β₁)γ/100 apart with probability ≥ 1/4 at n = 100, 200, 399
    (exact one-sided tests, false alarm 1e-6 each, 2048 pairs), and the across-chain variance
    settles at a positive level bounded below by the coupling."""
    run = run_chains(cfg, placement, lambda th: ReferenceAdam(th, cfg["beta1"], cfg["beta2"], cfg["eps"]))
    check_nonvanishing(cfg, run, "reference Adam")
    event(f"law {cfg['law']}")


def check_vanishing(cfg, run, what):
    delta = (1 - cfg["beta1"]) / 100 * cfg["lr"]
    last = SPLITS[-1]
    far = int((run.differences[last] >= delta).sum())
    assert_at_most(far, CHAINS, VANISHED, ALPHA, what=f"{what}: pairs still {delta:.3g} apart at n={last}")
    first = float(run.differences[SPLITS[0]].mean())
    assert float(run.differences[last].mean()) < first, f"{what}: successor distance did not decrease"
    figure("max coupling frequency at n=399 (gamma/n)", far / CHAINS, keep="max")


@pytest.mark.theorem("T9")
@settings(max_examples=scaled(3))
@given(cfg=chain_configs())
def test_decaying_learning_rate_contrast(placement, cfg):
    """[NV] Thm 1.1, contrast (Robbins–Monro): with γ_n = γ/n the same coupling statistic vanishes:
    at n = 399 at most 5% of the pairs are (1 − β₁)γ/100 apart (exact one-sided test, false alarm
    1e-6) and the mean successor distance decreases from n = 100."""
    run = run_chains(cfg, placement, lambda th: ReferenceAdam(th, cfg["beta1"], cfg["beta2"], cfg["eps"]),
                     decaying=True)
    check_vanishing(cfg, run, "reference Adam, γ/n")


@pytest.mark.theorem("T9", families={"adam"})
@settings(max_examples=scaled(1))
@given(cfg=chain_configs())
def test_adam_subject_chains_do_not_converge(optimizer_subject, placement, cfg):
    """[NV] Thm 1.1 on the implementation under test: one optimizer over a (chains,) parameter
    (Adam is elementwise, so each coordinate is an independent chain) with constant lr: the
    coupling and spread checks of the reference chains hold (exact tests, false alarm 1e-6)."""
    run = run_chains(cfg, placement, lambda th: SubjectAdam(optimizer_subject, th, cfg["beta1"], cfg["beta2"],
                                                            cfg["eps"], cfg["lr"]))
    check_nonvanishing(cfg, run, optimizer_subject.label)
