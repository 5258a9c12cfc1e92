"""T12 — RMSProp is blind to lambda; scale invariance of adaptive methods.

[CUT] Prop B.4, Prop B.5, Prop B.11, eqs. (22)-(27): with eps = 0, RMSProp's update
g / sqrt(v) is unchanged when the loss is multiplied by c > 0, so on lam*||b||_1 the trajectory
does not depend on lam; with v_0 = 0 it has the closed form
b_{k+1} = b_k - alpha sign(b_k) / sqrt(1 - rho^{k+1}). The same holds for Adam and Adagrad on any
loss; SGD is not scale invariant. With c a power of two the invariance is exact in float64.
"""
import math
import random
from fractions import Fraction

import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

from kinkcheck.harness.core.activations import smooth_relu
from kinkcheck.harness.core.assertions import assert_bitwise_equal
from kinkcheck.harness.core.examples import scaled
from kinkcheck.harness.core.losses import mse
from kinkcheck.harness.core.networks import Network
from kinkcheck.harness.experiments.nonsmooth_runs import lasso, run_objective
from kinkcheck.harness.oracles.nonsmooth import (ExactTieUndecided, ndgm_cycle, rmsprop_float_drift_bound,
                                                 rmsprop_l1_closed_form, rmsprop_l1_exact_orbit,
                                                 rmsprop_l1_step_bounds)
from kinkcheck.harness.core.outcomes import LowPrecisionEffect, NonFiniteError, require
from kinkcheck.harness.core.assertions import assert_reached
from kinkcheck.harness.core.records import figure
from kinkcheck.harness.core.training import train
from kinkcheck.strategies.lasso import eps_free_hyperparameters, floats_beta0, lambda_pairs, square_safe_band
from kinkcheck.strategies.networks import seeds



def _lasso_run(subject, placement, beta0, lam, hp, steps):
    return run_objective(subject, placement.tensor(beta0), lasso(lam), hp, steps)


@pytest.mark.theorem("T12", capability="eps_free")
@settings(max_examples=scaled(10))
@given(data=st.data(), beta0=floats_beta0, steps=st.integers(5, 50))
def test_lambda_invariance_bit_for_bit(optimizer_subject, placement, data, beta0, steps):
    """[CUT] Prop B.5, Eq. 24-25 (and THEOREMS.md T12(a)): with eps = 0 the trajectory on
    lam*||b||_1 equals the one on 2^j lam*||b||_1 bit for bit (gradients scale by 2^j exactly,
    second moments by 4^j, square roots by 2^j: every rounding is the same) -- in any dtype, for lam
    and 2^j lam in the band where every gradient, second moment and sum of squares is a normal number
    of the dtype (square_safe_band: all of [2^-10, 2^10] in float64/float32/bfloat16, ~[0.25, 25] in
    float16, whose squares leave 2^-14..65504 outside it)."""
    lam, j = data.draw(lambda_pairs(dtype=placement.dtype, steps=steps))
    hp = data.draw(eps_free_hyperparameters(optimizer_subject.family))
    a = _lasso_run(optimizer_subject, placement, beta0, lam, hp, steps).iterates
    b = _lasso_run(optimizer_subject, placement, beta0, lam * 2.0 ** j, hp, steps).iterates
    assert_bitwise_equal(b, a, f"{optimizer_subject} trajectories for lam={lam} and lam*2^{j}")
    assert_reached(bool((a[-1] != a[0]).any()), "T12(a): the iterate never moved")
    figure("steps checked bit for bit", steps, keep="max")


@pytest.mark.theorem("T12", capability="eps_free")
@settings(max_examples=scaled(8))
@given(data=st.data(), beta0=floats_beta0, ratio=st.floats(1.01, 100.0), steps=st.integers(5, 50))
def test_lambda_invariance_other_ratios(optimizer_subject, placement, data, beta0, ratio, steps):
    """[CUT] Prop B.5, Eq. 22-27 (THEOREMS.md T12(a)): for a ratio that is not a power of two the trajectories
    agree to rounding: |difference| <= 16 (k+1) ulp(1) max(|b|, step) at step k (each step adds a
    few roundings of the update, whose size is <= lr/sqrt(1-beta2)), until a near-tie, where the
    reference is within that tolerance of 0 and a sign may flip — the comparison stops there.
    ulp(1) is the dtype's: eps = torch.finfo(dtype).eps = 2u (2^-52 in float64). lam and ratio*lam lie in the
    dtype's square-safe band (see test_lambda_invariance_bit_for_bit)."""
    lo, hi = square_safe_band(placement.dtype, steps)
    lam = data.draw(st.floats(max(lo, 2.0 ** -10), min(2.0 ** 10, hi / ratio)), label="lam")
    hp = data.draw(eps_free_hyperparameters(optimizer_subject.family))
    eps = torch.finfo(placement.dtype).eps
    a = _lasso_run(optimizer_subject, placement, beta0, lam, hp, steps).iterates
    b = _lasso_run(optimizer_subject, placement, beta0, lam * ratio, hp, steps).iterates
    scale = max(1.0, float(a.abs().max())) + hp["lr"] * 10.0 * math.sqrt(steps + 1)
    worst = 0.0
    for k in range(steps + 1):
        tol = 16 * (k + 1) * eps * scale
        diff = float((a[k] - b[k]).abs().max())
        worst = max(worst, diff)
        assert diff <= tol, (f"{optimizer_subject}: lam and {ratio:.4g} lam differ by {diff:.3g} > {tol:.3g} at "
                             f"step {k} (no near-tie before)")
        if bool((a[k].abs() <= tol).any()):
            event("near-tie: comparison stopped")
            break
    figure("max |difference| / ulp(1) before a near-tie (non-dyadic ratio)", worst / eps, keep="max")


def _scaled(v: float, prec: int) -> int:
    """2^prec v exactly (v a float64 multiple of 2^-prec; else floor, a bound that only tightens)."""
    n, m = v.as_integer_ratio()
    return (n << prec) // m


def _absorption_report(iterates, beta0, alpha, rho):
    """Float64 RMSProp (eps = 0, no momentum) against exact arithmetic, per coordinate i:
    - exact: the orbit of eq. (25) with its own signs, every sign certified (Prop B.4: never 0);
    - shadow: the exact recursion driven by the float run's own sign pattern; the float iterate must
      stay within the a priori rounding bound T_k of it at every step (rmsprop_float_drift_bound),
      so a float zero at step k means |shadow_k| <= T_k: the float step and the float iterate
      coincided while the exact value was within rounding of 0 (rounding absorption, Sterbenz:
      fl(b - step) = 0 iff b == step), never an exact zero.
    Returns (exact orbits, shadow orbits, first float zero step or None per coordinate, T)."""
    steps = iterates.shape[0] - 1
    bmax = max(abs(b) for b in beta0) + alpha / math.sqrt(1 - rho)
    T = rmsprop_float_drift_bound(alpha, rho, steps, bmax)
    exact, shadows, zeros = [], [], []
    for i, b0 in enumerate(beta0):
        col = iterates[:, i].tolist()
        ex = rmsprop_l1_exact_orbit(b0, alpha, rho, steps)  # raises ExactTieUndecided if not certified
        sg = [(v > 0) - (v < 0) for v in col]
        sh = rmsprop_l1_exact_orbit(b0, alpha, rho, steps, signs=sg[:-1], prec=ex.prec)
        P = sh.prec
        for k, v in enumerate(col):
            x = _scaled(v, P)  # exact: float64 values here are multiples of 2^-P
            dev = max(abs(x - sh.lo[k]), abs(x - sh.hi[k]))
            assert dev <= _scaled(T[k], P), (
                f"T12 (Prop B.4, eq. (25)): float64 RMSProp coordinate {i} at step {k} is {v!r}, "
                f"{dev / 2 ** P:.3g} from the exact recursion under its own signs (> rounding bound {T[k]:.3g}; "
                f"alpha={alpha}, rho={rho}, b0={b0!r})")
        z = next((k for k, v in enumerate(col) if v == 0), None)
        if z is not None:
            assert all(v == 0 for v in col[z:]), f"T11(c)/T12: coordinate {i} left 0 after step {z}"
            assert ex.abs_lower(z) > 0, "T12 (Prop B.4): exact orbit not certified non-zero"
            figure("float64 zero: |exact b_k| at the zero step (upper bound)", float(ex.abs_upper(z)), keep="max")
            figure("float64 zero: |shadow e_k| / rounding bound T_k", float(sh.abs_upper(z)) / T[z], keep="max")
            figure("float64 zero: first step", z, keep="min")
        exact.append(ex)
        shadows.append(sh)
        zeros.append(z)
    return exact, shadows, zeros, T


@pytest.mark.theorem("T12", families={"rmsprop"})
@settings(max_examples=scaled(10))
@given(data=st.data(), beta0=floats_beta0, steps=st.integers(5, 120))
def test_rmsprop_closed_form(optimizer_subject, placement, data, beta0, steps):
    """[CUT] Eq. 25 (from (22)-(24), eps = 0, v_0 = 0): b_{k+1} = b_k - alpha sign(b_k) /
    sqrt(1 - rho^{k+1}) whatever lam, against an mpmath oracle (50 digits) to 16 (k+1) ulps of the
    scale, up to the first near-tie; Prop B.4 (exact orbit never 0, certified) with any float64 zero
    a rounding absorption; Prop B.5's band: once |b_k| < a_k (a_k the step), |b_j| <= a_{j-1} for
    every j > k (exact: the band is invariant), checked on the float run up to the rounding bound.
    ulp(1) is the dtype's eps = torch.finfo(dtype).eps (2^-52 in float64); b_0 rounded to the dtype
    is within u |b_0| <= eps scale of the oracle's b_0, inside the k = 0 tolerance."""
    lo, hi = square_safe_band(placement.dtype, steps)  # lam's squares normal numbers of the dtype (float16!)
    lam = data.draw(st.floats(max(lo, 2.0 ** -10), min(hi, 2.0 ** 10)), label="lam")
    hp = data.draw(eps_free_hyperparameters("rmsprop"))
    eps = torch.finfo(placement.dtype).eps
    hp["momentum"] = 0.0  # eq. (23): no momentum buffer
    run = _lasso_run(optimizer_subject, placement, beta0, lam, hp, steps).iterates
    alpha, rho = hp["lr"], hp["alpha"]
    oracle = rmsprop_l1_closed_form(beta0, alpha, rho, steps)
    scale = max(1.0, max(abs(b) for b in beta0)) + alpha / math.sqrt(1 - rho)
    for k, row in enumerate(oracle):
        tol = 16 * (k + 1) * eps * scale
        got = run[k].tolist()
        for i, want in enumerate(row):
            assert abs(got[i] - float(want)) <= tol, (
                f"T12 (eq. (25)): {optimizer_subject}: step {k} coordinate {i}: {got[i]!r} vs closed form "
                f"{float(want)!r} (alpha={alpha}, rho={rho}, tol {tol:.3g})")
        if any(abs(float(v)) <= tol for v in row):
            event("near-tie: comparison stopped")
            break
    if run.dtype != torch.float64:
        return  # the rounding bound below is float64's
    exact, _, zeros, T = _absorption_report(run, beta0, alpha, rho)
    entered = 0
    for i, ex in enumerate(exact):
        a = rmsprop_l1_step_bounds(alpha, rho, steps, ex.prec)
        k0 = next((k for k in range(steps) if ex.abs_upper(k) * 2 ** ex.prec < a[k][0]), None)  # |b_k| < a_k
        if k0 is None:
            continue
        entered += 1
        for j in range(k0 + 1, steps + 1):  # exact band (certified) and the float run within T_j of it
            assert ex.abs_upper(j) * 2 ** ex.prec <= a[j - 1][0], f"T12 (Prop B.5): exact orbit left the band at {j}"
            assert abs(float(run[j, i])) <= a[j - 1][1] / 2 ** ex.prec + T[j], (
                f"T12 (Prop B.5): {optimizer_subject} coordinate {i} left the band |b_j| <= a_(j-1) at step {j}")
    figure("coordinates that entered the band", entered, keep="max")
    event(f"float64 zeros: {sum(z is not None for z in zeros)}")


@pytest.mark.theorem("T12")
@settings(max_examples=scaled(10))
@given(beta0=floats_beta0, log2_alpha=st.integers(4, 7), rho=st.sampled_from([0.5, 0.9, 0.99, 0.999]),
       steps=st.integers(500, 2000))
def test_rmsprop_exact_orbit_never_zero(beta0, log2_alpha, rho, steps):
    """[CUT] Prop B.4 (eq. (25)-(26)), the exact-arithmetic statement at paper-scale horizons: the
    RMSProp orbit b_k = b_0 - sum_{j<k} sign(b_j) alpha / sqrt(1 - rho^{j+1}) is never 0. Certified:
    each b_k lies in a rigorous interval (mpmath interval arithmetic, integer sums) that excludes 0,
    for every k <= steps (500-2000). Suite-level: the oracle, no subject."""
    alpha = 2.0 ** -log2_alpha
    closest = math.inf
    for b0 in beta0:
        try:
            ex = rmsprop_l1_exact_orbit(b0, alpha, rho, steps)
        except ExactTieUndecided as e:
            raise AssertionError(f"T12 (Prop B.4): {e}") from None
        assert all(ex.abs_lower(k) > 0 for k in range(steps + 1)), "T12 (Prop B.4): an exact iterate is 0"
        closest = min(closest, min(math.log2(ex.abs_lower(k)) for k in range(steps + 1)))
        figure("precision needed to certify the signs (bits)", ex.prec, keep="max")
    figure("closest exact approach to 0: log2 min |b_k|", closest, keep="min")
    figure("horizon certified (steps)", steps, keep="max")


WINDOW = 100  # Fig. 6 plots the last 100 iterations (appendix B.4)


@pytest.mark.theorem("T12", families={"rmsprop"})
@settings(max_examples=scaled(3))
@given(data=st.data(), beta0=floats_beta0)
def test_phase_transition_ndgm_vs_rmsprop(optimizer_subject, placement, data, beta0):
    """[CUT] Prop B.11, Prop B.5, Fig. 6 (appendix B.4), at paper-scale horizons (500-2000 steps,
    window W = the last 100), for every lam in 2^-3..2^3 (lam = 1 is Fig. 6's second value): NDGM's
    window-mean l1 norm is exactly d alpha lam / 2 (Prop B.2's cycle, Fraction); the exact RMSProp
    orbit (certified intervals) has every coordinate in the band |b_k| <= a_{k-1}
    (a_k = alpha/sqrt(1-rho^{k+1})), where each consecutive pair sums to a value in
    (alpha, 2a_{k-1} - a_k], so its window mean lies in (d alpha/2, d alpha (1+2 delta)/2],
    delta = a_{N-W-1}/alpha - 1. Hence Fig. 6's orderings: NDGM below RMSProp for lam < 1, above for
    lam > 1 (lam >= 2 > 1 + 2 delta); at lam = 1 RMSProp is above NDGM by a relative 2 delta at most:
    a first-order tie, no ordering from the theory. RMSProp is run once (lam = 1): T12(a) makes its
    trajectory bit for bit the same for every lam = 2^j (test_lambda_invariance_bit_for_bit).
    Float64: the subject tracks the exact recursion under its own signs within the rounding bound;
    coordinates that land on 0 (rounding absorption, counted, never hidden) drop out of its l1 norm;
    the float ordering is asserted where the absorbed count and the bounds decide it."""
    alpha = Fraction(1, 2 ** data.draw(st.integers(4, 6), label="-log2 alpha"))
    rho = data.draw(st.sampled_from([0.5, 0.9, 0.99]), label="rho")
    hp = dict(lr=float(alpha), alpha=rho, eps=0.0, momentum=0.0, centered=False, weight_decay=0.0)
    d = len(beta0)
    lams = [Fraction(2) ** j for j in range(-3, 4)]
    # a multiple of s = alpha lam is absorbed at 0 by NDGM (T10): move b_0 off every such lattice
    beta0 = [b * (1 - 2.0 ** -30) if (Fraction(b) / (alpha / 8)).denominator == 1 else b for b in beta0]
    K = max(int(abs(Fraction(b)) / (alpha / 8)) for b in beta0)  # latest NDGM cycle entry (Prop B.2; <= 512)
    steps = max(K, 400) + WINDOW + 2 + data.draw(st.integers(0, 1500), label="extra steps")
    steps += (steps - WINDOW) % 2
    if placement.dtype != torch.float64:
        pytest.skip("the exact comparison's rounding bound is float64's")
    rms = _lasso_run(optimizer_subject, placement, beta0, 1.0, hp, steps).iterates
    exact, shadows, zeros, T = _absorption_report(rms, beta0, float(alpha), rho)
    k0 = steps - WINDOW
    lo_sum = hi_sum = Fraction(0)
    for i, ex in enumerate(exact):
        a = rmsprop_l1_step_bounds(float(alpha), rho, steps, ex.prec)
        assert ex.abs_upper(k0) * 2 ** ex.prec <= a[k0 - 1][0], (
            f"T12 (Prop B.5): exact RMSProp coordinate {i} not in the band |b| <= a_(k-1) at step {k0}")
        lo_sum += sum(ex.abs_lower(k) for k in range(k0, steps)) / WINDOW
        hi_sum += sum(ex.abs_upper(k) for k in range(k0, steps)) / WINDOW
    a = rmsprop_l1_step_bounds(float(alpha), rho, steps, exact[0].prec)
    delta_hi = Fraction(a[k0 - 1][1], 2 ** exact[0].prec) / Fraction(float(alpha)) - 1
    half = d * Fraction(float(alpha)) / 2
    width = hi_sum - lo_sum  # of the certified interval of the exact window mean (~ 2^-prec)
    assert hi_sum > half and lo_sum <= half * (1 + 2 * delta_hi) and width < half * Fraction(1, 2 ** 100), (
        f"T12 (Prop B.5): exact RMSProp window mean in [{float(lo_sum):.6g}, {float(hi_sum):.6g}], "
        f"outside (d alpha/2, d alpha (1+2 delta)/2] = ({float(half):.6g}, {float(half * (1 + 2 * delta_hi)):.6g}]")
    rms_late = float(rms[k0:steps].abs().sum(dim=1).mean())
    absorbed = sum(z is not None for z in zeros)
    live = [i for i, z in enumerate(zeros) if z is None]
    slack = d * T[-1]
    # where the float run kept the exact sign pattern its shadow is the exact orbit: mean >= alpha/2 - T
    float_lo = (len(live) * float(alpha) / 2 - slack
                if all(shadows[i].signs[:steps] == exact[i].signs[:steps] for i in live) else 0.0)
    if absorbed == 0 and float_lo > 0:
        assert float_lo <= rms_late <= float(hi_sum) + slack, (
            f"T12: {optimizer_subject} float64 window mean {rms_late:.6g} outside the exact bounds +- rounding")
    for lam in lams:
        ndgm_late = Fraction(0)
        for b in beta0:
            Kb, c, c2 = ndgm_cycle(Fraction(b), alpha * lam)
            require(Kb <= k0 and 0 < abs(c) < alpha * lam, "T12(e): the NDGM cycle oracle's preconditions fail")
            ndgm_late += (abs(c) + abs(c2)) / 2  # the cycle alternates c, c2: the window holds W/2 of each
        assert ndgm_late == d * alpha * lam / 2, f"T12/T10 (Prop B.11): NDGM window mean {ndgm_late} != d alpha lam/2"
        if lam < 1:
            assert ndgm_late < lo_sum, f"T12 (Fig. 6, lam={lam}): NDGM's exact late l1 is not below RMSProp's"
            reversed_ = rms_late <= float(ndgm_late)
            if float_lo > float(ndgm_late):
                assert not reversed_, (
                    f"T12 (Fig. 6): {optimizer_subject} float64 late l1 {rms_late:.6g} not above NDGM's")
            figure("float64: Fig. 6 lam<1 ordering reversed by absorption", int(reversed_), keep="sum")
        elif lam > 1:
            assert ndgm_late > hi_sum, f"T12 (Fig. 6, lam={lam}): NDGM's exact late l1 is not above RMSProp's"
            assert rms_late < float(ndgm_late), f"T12 (Fig. 6): {optimizer_subject} float64 late l1 not below NDGM's"
        else:  # strictly above, by a gap that may be below the certified width (delta ~ rho^(N-W)/2)
            assert hi_sum > ndgm_late and lo_sum <= ndgm_late * (1 + 2 * delta_hi), (
                "T12 (Fig. 6, lam = 1): exact RMSProp window mean not within a relative 2 delta above NDGM's")
            figure("lam = 1: exact (RMSProp - NDGM)/NDGM window mean (upper)", float(hi_sum / ndgm_late - 1),
                   keep="max")
            figure("lam = 1: float64 RMSProp above NDGM (runs)", int(rms_late > float(ndgm_late)), keep="sum")
    event(f"coordinates absorbed at 0 in float64: {absorbed} of {d}")
    figure("float64: runs with a coordinate absorbed at 0", int(absorbed > 0), keep="sum")
    figure("float64: coordinates absorbed at 0", absorbed, keep="sum")
    figure("late l1 / (d alpha/2), RMSProp", rms_late / float(half), keep="max")


@pytest.mark.theorem("T12")
@settings(max_examples=scaled(1))
@given(seed=seeds)
def test_worked_numbers_of_appendix_b4(seed):
    """[CUT] appendix B.4's worked numbers (after Prop B.11), d alpha = 1 (d = 100 coordinates,
    alpha = 0.01, rho = 0.99, b_0 uniform on [-1, 1]; RMSProp's last 100 of 500 iterations, in the
    band from about step 100; NDGM on its eventual 2-cycle, Prop B.2's closed form): with
    lam = 0.01 the RMSProp loss lam ||b_k||_1 stays below 0.01 and NDGM's below 0.0001; with
    lam = 100, RMSProp's below 100 and NDGM's below 10,000; and at every one of those iterations
    RMSProp's loss is the larger for lam = 0.01 and the smaller for lam = 100 (Fig. 6). Exact:
    NDGM's cycle in Fraction with alpha = 1/100; RMSProp's orbit certified (it does not depend on lam,
    Prop B.5). Suite-level: the oracles, no subject."""
    rng = random.Random(seed)
    d, alpha, rho, steps = 100, 0.01, 0.99, 500
    beta0 = [rng.uniform(-1, 1) for _ in range(d)]
    orbits = [rmsprop_l1_exact_orbit(b, alpha, rho, steps) for b in beta0]
    window = range(steps - WINDOW + 1, steps + 1)
    rms_hi = [sum(o.abs_upper(k) for o in orbits) for k in window]  # ||b_k||_1 upper bounds
    rms_lo = [sum(o.abs_lower(k) for o in orbits) for k in window]
    for lam, rms_bound, ndgm_bound in ((Fraction(1, 100), Fraction(1, 100), Fraction(1, 10 ** 4)),
                                       (Fraction(100), Fraction(100), Fraction(10 ** 4))):
        cycles = [ndgm_cycle(Fraction(b), lam / 100) for b in beta0]  # Prop B.2 (K up to 10^4 steps at lam=0.01)
        ndgm_loss = [lam * sum(abs(c[1]) for c in cycles), lam * sum(abs(c[2]) for c in cycles)]
        assert max(ndgm_loss) < ndgm_bound, (
            f"T12 (appendix B.4, lam={lam}): NDGM loss {float(max(ndgm_loss))} >= {ndgm_bound}")
        assert max(rms_hi) * lam < rms_bound, f"T12 (appendix B.4, lam={lam}): RMSProp loss >= {rms_bound}"
        if lam < 1:
            assert min(rms_lo) * lam > max(ndgm_loss), "T12 (appendix B.4, Fig. 6): RMSProp not above NDGM at lam=0.01"
        else:
            assert max(rms_hi) * lam < min(ndgm_loss), "T12 (appendix B.4, Fig. 6): RMSProp not below NDGM at lam=100"
        figure(f"B.4 lam={float(lam):g}: max RMSProp loss / stated bound", float(max(rms_hi) * lam / rms_bound),
               keep="max")
        figure(f"B.4 lam={float(lam):g}: max NDGM loss / stated bound", float(max(ndgm_loss) / ndgm_bound), keep="max")


def _network_case(placement, seed, batch=3):
    gen = placement.generator(seed)
    net = Network.random([2, 5, 1], batch, generator=gen, dtype=placement.dtype, device=placement.device)
    x = torch.rand((8, 2), generator=gen, dtype=placement.dtype, device=placement.device) * 2 - 1
    y = torch.rand((8, 1), generator=gen, dtype=placement.dtype, device=placement.device)
    return net, x, y


SMOOTH = smooth_relu(4.0)  # no exactly-zero gradients: eps = 0 never sees 0/0


@pytest.mark.theorem("T12", capability="eps_free")
@settings(max_examples=scaled(5))
@given(data=st.data(), seed=seeds, j=st.integers(-10, 10).filter(bool), steps=st.integers(1, 25))
def test_scale_invariance_on_networks(optimizer_subject, placement, data, seed, j, steps):
    """THEOREMS.md T12(d), generalising [CUT] Prop B.5 and Eq. 22-27: Adam, Adagrad, RMSprop with eps = 0 give
    identical trajectories on f and 2^j f for any loss f — here random networks' MSE — bit for bit.

    In float16 and bfloat16 this is an exact-arithmetic claim whose low-precision behaviour is a different
    fact: an 8- or 11-bit sum cancels to an exactly-zero gradient with positive probability (eps = 0 then
    computes 0/0 in any implementation: a non-finite run is measured in both dtypes), and in float16
    (1 - beta2) g^2 falls below the normal range for ordinary gradients, where scaling by 2^j no longer
    commutes with rounding: there the share of parameters that differ is measured and reported. Finite
    bfloat16 runs (float32's exponent range) are still compared bit for bit; T12(a) keeps the bit-for-bit
    check in every dtype on the LASSO, where every gradient's magnitude is known."""
    hp = data.draw(eps_free_hyperparameters(optimizer_subject.family))
    net, x, y = _network_case(placement, seed)
    low = placement.half_precision
    finals = []
    for c in (1.0, 2.0 ** j):
        trained = net.trainable()
        try:
            train(trained, x, y, optimizer_subject, hp, steps, activation=SMOOTH,
                  loss=lambda pred, yy, c=c: c * mse(pred, yy))
        except NonFiniteError as exc:  # 0/0 after an exact cancellation; any other subject error stays a FAIL
            if not low:
                raise
            raise LowPrecisionEffect("T12", "runs on f and 2^j f with eps = 0 that went non-finite", 1.0, (1.0, 1.0),
                                     0.0, placement.dtype, detail=str(exc).splitlines()[0]) from None
        finals.append(torch.cat([p.detach().flatten() for p in trained.parameters()]))
    if placement.dtype == torch.float16 and not bool((finals[1] == finals[0]).all()):  # bfloat16 has float32's range
        share = float((finals[1] != finals[0]).double().mean())
        raise LowPrecisionEffect("T12", f"share of parameters differing on f and 2^{j} f (eps = 0)", share,
                                 (share, share), 0.0, placement.dtype,
                                 detail="exact zeros and subnormal second moments break the scaling in this dtype")
    assert_bitwise_equal(finals[1], finals[0], f"{optimizer_subject} on f and 2^{j} f")
    assert_reached(bool((finals[0] != torch.cat([p.flatten() for p in net.parameters()])).any()),
                   "T12(d): the subject left the parameters where they started")


@pytest.mark.theorem("T12", families={"sgd"})
@settings(max_examples=scaled(5))
@given(seed=seeds, j=st.integers(1, 4), steps=st.integers(1, 10))
def test_sgd_is_not_scale_invariant(optimizer_subject, placement, seed, j, steps):
    """THEOREMS.md T12(d) ([CUT] Eq. 15), the contrast: SGD on 2^j f takes 2^j times larger steps, so its
    trajectory differs from the one on f (exhibited on random networks)."""
    net, x, y = _network_case(placement, seed)
    finals = []
    for c in (1.0, 2.0 ** j):
        trained = net.trainable()
        train(trained, x, y, optimizer_subject, {"lr": 0.01, "weight_decay": 0.0}, steps, activation=SMOOTH,
              loss=lambda pred, yy, c=c: c * mse(pred, yy))
        finals.append(torch.cat([p.detach().flatten() for p in trained.parameters()]))
    assert bool((finals[0] != finals[1]).any()), f"{optimizer_subject}: SGD trajectory unchanged by scaling"
    figure("SGD |difference| f vs 2^j f", float((finals[0] - finals[1]).abs().max()), keep="min")
