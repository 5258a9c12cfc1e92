"""T9 — Adam with non-vanishing learning rates does not converge.

[NV] Thm 1.1 (reconstructed form, THEOREMS.md T9): on f(θ) = E(θ − X)² with Var X > 0, mini-batches
of size J and learning rates γ_n ≥ γ > 0, Adam (any β₁ ∈ [0,1), β₂ ∈ (0,1), ε > 0) does not
converge in probability: two independent successors of the same state stay ≥ δγ apart with
probability bounded below, uniformly in n. The two contrasts of the specification, run on the
implementation under test:

* γ_n = γ/n (Robbins–Monro): the increments vanish, and *only* through γ_n — every step obeys the
  deterministic bound |θ_n − θ_{n−1}| ≤ γ_n B_n(β₁, β₂), while the successor distance *scaled by γ_n*
  keeps the constant-rate floor (Adam's normalised step stays random: the schedule, not the
  optimizer, makes the increments vanish).
* J_n = n⁴ → ∞ with constant γ: the mini-batch noise vanishes and with it the coupling: two
  successors of one state coincide to within δγ (what the suite asserts; it does *not* assert that
  Θ_n converges: with ε ≪ γ Adam settles on a deterministic ±γ/2 cycle, measured).
"""
import pytest
import torch
from hypothesis import event, given, note, settings
from hypothesis import strategies as st

from kinkcheck.harness.experiments.adam_chains import LAWS, ReferenceAdam, SubjectAdam, adam_step_bound, coupled_run
from kinkcheck.harness.core.examples import scaled
from kinkcheck.harness.core.records import figure
from kinkcheck.harness.core.outcomes import LowPrecisionEffect
from kinkcheck.harness.core.stats import ALPHA, assert_at_least, assert_at_most, clopper_pearson, lower_tail, \
    power, upper_tail

CHAINS = 2048  # pairs per split step (and 3 x 2048 independent chains for the spread)
STEPS = 400
SPLITS = [100, 200, STEPS - 1]  # "late steps": the coupling is checked at each
# Lower bound on P(|θ' − θ''| ≥ δγ_n) asserted uniformly in n, with δ = (1 − β₁)/100: a two-point X
# with J = 1 gives identical mini-batches with probability 1/2, so no law can promise more than
# that; 1/4 leaves room (measured >= 0.48 over the generated grid). Exact one-sided test at ALPHA
# per split, CHAINS pairs: a true probability of 0.18 is detected below 1/4 with power COUPLING_POWER
# (0.998, computed here; 0.73 against 0.20).
COUPLING_FLOOR = 0.25
COUPLING_POWER = float(power(CHAINS, COUPLING_FLOOR, 0.18, alternative="less"))
# The spread: independent chains i and i + 3072 (disjoint mini-batch streams) are ≥ δγ apart with
# probability ≥ COUPLING_FLOOR at n = 200 and n = 400 (a chain that converged in probability to a
# constant would make this → 0). Exact one-sided binomial test over 3072 independent pairs at false
# alarm ALPHA = 1e-6 per step checked; a true 0.20 is caught below 1/4 with power SPREAD_POWER (0.97).
# J_n = n⁴ (growing batches): at the last split at most VANISHED of the pairs may stay δγ apart
# (exact one-sided test, false alarm 1e-6; a subject keeping the floor 1/4 is rejected with power
# 1 − 1e-100 at 2048 pairs). Measured: 0 pairs over the generated grid.
VANISHED = 0.05
SPREAD_POWER = float(power(3072, COUPLING_FLOOR, 0.20, alternative="less"))


def growing_batch(k: int) -> int:
    return k**4


def eps_choices(dtype=torch.float64):
    """The ε drawn: [NV] Thm 1.1 needs ε > 0, and torch's Adam adds ε in the parameter dtype, so an ε
    that rounds to 0 there (1e-8 in float16: below half its smallest subnormal 2^-24) is ε = 0, outside
    the theorem (its zero denominators are a torch behaviour carried in docs/torch-deviations/). In
    float64, bfloat16 and float32 every value is kept."""
    return [e for e in (1e-8, 1e-4, 0.1) if float(torch.tensor(e, dtype=dtype)) > 0]


@st.composite
def chain_configs(draw, bounded_step=False, dtype=torch.float64):
    """Generated Adam hyperparameters and law of X. ``bounded_step``: β₂ > β₁² (the step bound B_n
    stays O(1/√(1 − β₂)) instead of growing geometrically, so a step that ignores γ_n is visible)."""
    beta1 = draw(st.sampled_from([0.0, 0.5, 0.9]))
    betas2 = [b for b in (0.5, 0.9, 0.99, 0.999) if not bounded_step or b > beta1**2]
    cfg = dict(beta1=beta1, beta2=draw(st.sampled_from(betas2)),
               eps=draw(st.sampled_from(eps_choices(dtype))),
               lr=draw(st.floats(0.005, 0.1)),
               batch=draw(st.integers(1, 4)),
               law=draw(st.sampled_from(LAWS)),
               seed=draw(st.integers(0, 2**32 - 1)))
    note(f"chain config: {cfg}")
    return cfg


def run_chains(cfg, placement, make, decaying=False, batch=None, on_step=None, splits=SPLITS, dtype=None):
    lr = (lambda k: cfg["lr"] / k) if decaying else (lambda k: cfg["lr"])
    return coupled_run(make, cfg["law"], batch or cfg["batch"], CHAINS, splits, STEPS, lr,
                       placement.generator(cfg["seed"]), snapshot_steps=(STEPS // 2, STEPS),
                       dtype=dtype or placement.dtype, device=placement.device, on_step=on_step)


def at_least_or_measured(far, n, bound, what, dtype):
    """The exact one-sided test of P >= bound; outside float64 a deficit is the dtype's effect on a
    real-arithmetic claim (a step γ_n below half an ulp of θ rounds away: the float16 chain really
    stops), measured with its 1 − 1e-6 Clopper–Pearson interval (LowPrecisionEffect), not judged."""
    if dtype != torch.float64 and lower_tail(far, n, bound) < ALPHA:
        raise LowPrecisionEffect("T9", what, far / n, clopper_pearson(far, n), bound, dtype,
                                 detail=f"{far}/{n}; the real-arithmetic claim is a frequency >= {bound:g}")
    assert_at_least(far, n, bound, ALPHA, what=what)


def at_most_or_measured(far, n, bound, what, dtype):
    """As ``at_least_or_measured``, for P <= bound."""
    if dtype != torch.float64 and upper_tail(far, n, bound) < ALPHA:
        raise LowPrecisionEffect("T9", what, far / n, clopper_pearson(far, n), bound, dtype,
                                 detail=f"{far}/{n}; the real-arithmetic claim is a frequency <= {bound:g}")
    assert_at_most(far, n, bound, ALPHA, what=what)


def subject_adam(optimizer_subject, cfg):
    return lambda th: SubjectAdam(optimizer_subject, th, cfg["beta1"], cfg["beta2"], cfg["eps"], cfg["lr"])


def delta(cfg) -> float:
    return (1 - cfg["beta1"]) / 100


def underflow_allowance(cfg, n, dtype) -> tuple[float, float]:
    """(factor, extra) with |θ_n − θ_{n−1}| ≤ γ_n (B_n · factor + extra) up to relative rounding, for
    torch's Adam in ``dtype`` including underflow (float64: (1, 0), the bound as before).

    Each of the two rounded updates of v per step (``mul_``, ``addcmul_``) may lose an absolute η =
    half the dtype's smallest subnormal, so the stored v_n ≥ v_n − 2η/(1 − β₂) and the computed
    √v̂_n ≥ √v̂_n − s with s = √(2η/(1 − β₂)) / √(1 − β₂ⁿ). With |m̂| ≤ B_n √v̂ the step
    γ|m̂|/(ε + √v̂_computed) is at most γ B_n max(1, s/ε); m_n likewise may gain 2η/(1 − β₁) in
    absolute value, /(1 − β₁ⁿ) after bias correction, which divided by ε is ``extra``."""
    if dtype == torch.float64:
        return 1.0, 0.0
    eta = torch.finfo(dtype).smallest_normal * torch.finfo(dtype).eps / 2  # half the smallest subnormal
    b1, b2, eps = cfg["beta1"], cfg["beta2"], cfg["eps"]
    s = (2 * eta / (1 - b2)) ** 0.5 / (1 - b2**n) ** 0.5
    return max(1.0, s / eps), 2 * eta / ((1 - b1) * (1 - b1**n)) / eps


def check_coupling(cfg, run, what, lr, dtype=torch.float64):
    """At every split s, P(|θ'_{s+1} − θ''_{s+1}| ≥ δ γ_{s+1}) ≥ 1/4 (exact one-sided test)."""
    assert run.coupled_exactly, f"T9 {what}: paired chains fed identical batches diverged (not deterministic)"
    for s in run.splits:
        threshold = delta(cfg) * lr(s + 1)
        far = int((run.differences[s] >= threshold).sum())
        at_least_or_measured(far, CHAINS, COUPLING_FLOOR,
                             f"T9 {what}: pairs ≥ {threshold:.3g} = δγ_n apart one step after the split at n={s}",
                             dtype)
        yield far / CHAINS


def check_nonvanishing(cfg, run, what, dtype=torch.float64):
    """Coupling at every late split, and a positive spread of independent chains (exact tests)."""
    for freq in check_coupling(cfg, run, what, lambda k: cfg["lr"], dtype):
        figure("min coupling frequency (constant lr)", freq, keep="min")
    threshold = delta(cfg) * cfg["lr"]
    for n, chains in sorted(run.snapshots.items()):
        half = chains.numel() // 2
        far = int(((chains[:half] - chains[half:]).abs() >= threshold).sum())
        at_least_or_measured(far, half, COUPLING_FLOOR,
                             f"T9 {what}: independent chains ≥ {threshold:.3g} apart at n={n} (the spread)", dtype)
        figure("min spread frequency (independent chains, constant lr)", far / half, keep="min")


@pytest.mark.theorem("T9")
@settings(max_examples=scaled(2))
@given(cfg=chain_configs())
def test_reference_adam_chains_do_not_converge(placement, cfg):
    """[NV] Thm 1.1 for the papers' Adam recursion itself (the harness's float64 reference, a
    suite-level fact): with constant γ, two independent successors of the same late state are
    ≥ (1 − β₁)γ/100 apart with probability ≥ 1/4 at n = 100, 200, 399, and independent chains are
    that far apart with probability ≥ 1/4 at n = 200, 400 (exact one-sided tests, false alarm 1e-6
    each). The reference is suite machinery: it runs in float64 whatever --dtype says."""
    run = run_chains(cfg, placement, lambda th: ReferenceAdam(th, cfg["beta1"], cfg["beta2"], cfg["eps"]),
                     dtype=torch.float64)
    check_nonvanishing(cfg, run, "reference Adam")
    event(f"law {cfg['law']}")


@pytest.mark.theorem("T9", families={"adam"})
@settings(max_examples=scaled(1))
@given(data=st.data())
def test_adam_subject_chains_do_not_converge(optimizer_subject, placement, data):
    """[NV] Thm 1.1 on the implementation under test: one optimizer over a (chains,) parameter
    (Adam is elementwise, so each coordinate is an independent chain) with constant lr: the
    coupling and spread checks of the reference chains hold (exact tests, false alarm 1e-6).
    Outside float64 a deficit is measured (LowPrecisionEffect), ε drawn non-zero in the dtype."""
    cfg = data.draw(chain_configs(dtype=placement.dtype), label="cfg")
    run = run_chains(cfg, placement, subject_adam(optimizer_subject, cfg))
    check_nonvanishing(cfg, run, optimizer_subject.label, placement.dtype)


@pytest.mark.theorem("T9", families={"adam"})
@settings(max_examples=scaled(1))
@given(data=st.data())
def test_adam_subject_decaying_learning_rate_contrast(optimizer_subject, placement, data):
    """[NV] Thm 1.1, contrast (Robbins–Monro γ_n = γ/n), on the implementation under test: every
    step of every chain obeys |θ_n − θ_{n−1}| ≤ γ_n B_n (B_n the Cauchy–Schwarz bound on Adam's
    normalised step, up to rounding derived from the unit roundoff), so the increments vanish; and
    the successor distance scaled by γ_n keeps the constant-rate floor: ≥ (1 − β₁)γ_n/100 with
    probability ≥ 1/4 at n = 100, 200, 399 (exact one-sided tests, false alarm 1e-6 each). The
    increments vanish through the schedule alone; the normalised step stays random.

    Outside float64 (ε drawn non-zero in the dtype): the step bound also allows the underflow of the
    moments (``underflow_factor``); a coupling deficit is measured (LowPrecisionEffect: in float16
    γ/n falls below half an ulp of θ and the chains really stop)."""
    cfg = data.draw(chain_configs(bounded_step=True, dtype=placement.dtype), label="cfg")
    u = torch.finfo(placement.dtype).eps / 2
    worst = [0.0]

    def bound_every_step(k, before, after):
        gamma = cfg["lr"] / k
        # update: ~12 rounded operations (moments, bias corrections, sqrt, eps, product): relative
        # 16u; then θ − Δ rounds once more, by at most u|θ_n|.
        factor, extra = underflow_allowance(cfg, k, placement.dtype)
        limit = (gamma * adam_step_bound(cfg["beta1"], cfg["beta2"], k) * factor * (1 + 16 * u)
                 + gamma * extra + u * after.abs())
        excess = ((after - before).abs() / limit).max()
        worst[0] = max(worst[0], float(excess))
        assert bool(excess <= 1), (f"T9 {optimizer_subject.label}: step {k} moved a chain by more than "
                                   f"γ_n·B_n = {float(limit.max()):.3g} (ratio {float(excess):.3g}): the "
                                   f"learning-rate schedule γ/n was not applied")

    run = run_chains(cfg, placement, subject_adam(optimizer_subject, cfg), decaying=True,
                     on_step=bound_every_step)
    for freq in check_coupling(cfg, run, f"{optimizer_subject.label}, γ/n", lambda k: cfg["lr"] / k,
                               placement.dtype):
        figure("min coupling frequency scaled by gamma_n (gamma/n)", freq, keep="min")
    figure("max step / (gamma_n B_n) (gamma/n)", worst[0], keep="max")


@pytest.mark.theorem("T9", families={"adam"})
@settings(max_examples=scaled(1))
@given(data=st.data())
def test_adam_subject_growing_batch_contrast(optimizer_subject, placement, data):
    """[NV] Thm 1.1, contrast (mini-batch sizes J_n → ∞, here J_n = n⁴, constant γ), on the
    implementation under test, where it holds: once the batch noise is far below ε. At n = 399 the
    gradient noise is about 2σ/√J_n ≈ 1.3e-5 (σ ≤ 1 for the laws drawn); with ε = 0.1 Adam's step noise is
    then ≈ γ·1.3e-4, far below δγ = (1 − β₁)γ/100 ≥ 1e-3γ, so at most 5% of the pairs of successors may
    still be δγ apart (exact one-sided test, false alarm 1e-6), where constant J keeps ≥ 1/4.
    Measured, not asserted, at the drawn ε: with ε ≪ the noise Adam's normalisation keeps the sign of
    the noise and the successors stay O(γ) apart (e.g. 9% of pairs at n = 399 for β₂ = 0.5, ε = 1e-8),
    so the specification's "with J_n → ∞ they converge" does not hold for Adam in general. Outside
    float64 an excess is measured (LowPrecisionEffect)."""
    cfg = data.draw(chain_configs(dtype=placement.dtype), label="cfg")
    last = SPLITS[-1]  # only the last split is asserted: one group of pairs
    small_eps = run_chains(cfg, placement, subject_adam(optimizer_subject, cfg), batch=growing_batch,
                           splits=[last])
    figure("coupling frequency at n=399 (J_n = n^4) at the drawn eps",
           int((small_eps.differences[last] >= delta(cfg) * cfg["lr"]).sum()) / CHAINS, keep="max")
    cfg = {**cfg, "eps": 0.1}
    run = run_chains(cfg, placement, subject_adam(optimizer_subject, cfg), batch=growing_batch, splits=[last])
    assert run.coupled_exactly, f"T9 {optimizer_subject.label}: paired chains fed identical batches diverged"
    threshold = delta(cfg) * cfg["lr"]
    far = int((run.differences[last] >= threshold).sum())
    at_most_or_measured(far, CHAINS, VANISHED,
                        f"T9 {optimizer_subject.label}, J_n = n⁴, eps = 0.1: pairs still {threshold:.3g} apart "
                        f"at n={last}", placement.dtype)
    figure("max coupling frequency at n=399 (J_n = n^4)", far / CHAINS, keep="max")
    figure("median successor distance / gamma at n=399 (J_n = n^4)",
           float(run.differences[last].median()) / cfg["lr"], keep="max")
    event(f"J_n = n^4, law {cfg['law']}")

