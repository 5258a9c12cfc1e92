"""T10 — NDGM on the LASSO never settles.

[CUT] eq. (7), (8), (15)-(18), Prop 4.1, Prop B.1, Prop B.2, Table 1; eq. (3): plain gradient
descent with autograd's subgradient (sign(0) = 0) on lam*||b||_1 moves every coordinate by
s = alpha*lam per step until it enters a 2-cycle (c, c - sign(b_0) s), |c| in (0, s); it is never
sparse unless |b_0| is a multiple of s, and then it is absorbed at 0. The subject (family sgd)
runs on ``lam * p.abs().sum()`` with dyadic inputs, so float64 must equal the Fraction
recursion bit for bit. In a narrower dtype (p significant bits) b_0 is drawn on the grid 2^-p
instead of 2^-30 (``LassoCase.in_precision``), where every iterate of the exact recursion with
|b| < 1 is a float of that dtype and the same bit-for-bit claims are asserted; where an exact orbit
still leaves the dtype (the lambda paradox's 2^j lam runs, eq. (3)'s large first coordinate) the
exact-arithmetic claim is measured and reported as ``LowPrecisionEffect``, never judged.
"""
from fractions import Fraction

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
import torch

from kinkcheck.harness.core.assertions import assert_bitwise_equal, assert_reached
from kinkcheck.harness.core.examples import scaled
from kinkcheck.harness.experiments.nonsmooth_runs import lasso, relu_regression, run_objective
from kinkcheck.harness.core.outcomes import LowPrecisionEffect
from kinkcheck.harness.oracles.nonsmooth import first_zero, ndgm_cycle, ndgm_lasso, representable, ridge_cycle
from kinkcheck.harness.core.outcomes import require
from kinkcheck.harness.core.records import figure
from kinkcheck.strategies.lasso import ODD, lasso_cases


def _run(subject, placement, case, ridge=Fraction(0), objective=None):
    beta0 = placement.tensor(case.floats())
    obj = objective or lasso(float(case.lam), float(ridge))
    return run_objective(subject, beta0, obj, {"lr": float(case.alpha), "weight_decay": 0.0}, case.steps)


def _exact(placement, traj):
    return placement.tensor([[float(b) for b in row] for row in traj])


def _in_dtype(case, placement):
    """The case on the dtype's grid 2^-p (p significant bits; unchanged where p >= 30: float64)."""
    return case.in_precision(Fraction(torch.finfo(placement.dtype).eps).denominator.bit_length())


def _measured_unless_exact(placement, rows, iterates, what):
    """Return if every exact value in ``rows`` is a normal float of the dtype (then the claim is judged
    bit for bit); else raise LowPrecisionEffect with the subject's largest deviation from the exact
    orbit (an exact-arithmetic claim measured in low precision)."""
    if all(representable(b, placement.dtype) for row in rows for b in row):
        return
    dev = max(abs(Fraction(v) - b) for row, got in zip(rows, iterates.tolist()) for b, v in zip(row, got))
    raise LowPrecisionEffect("T10", what, float(dev), (0.0, float(dev)), 0.0, placement.dtype,
                             "the exact rational orbit is not representable in this dtype")


@pytest.mark.theorem("T10", families={"sgd"})
@given(case=lasso_cases())
def test_ndgm_equals_the_exact_recursion(optimizer_subject, placement, case):
    """[CUT] Eq. 15: NDGM on lam*||b||_1 is b_{k+1} = b_k - alpha lam sign(b_k), sign(0) = 0;
    with dyadic alpha, lam, b_0 the float64 trajectory equals the Fraction recursion bit for bit (in
    any dtype on its grid, see the module docstring)."""
    case = _in_dtype(case, placement)
    run = _run(optimizer_subject, placement, case)
    exact = ndgm_lasso(case.beta0, case.alpha, case.lam, case.steps)
    _measured_unless_exact(placement, exact, run.iterates, "max |b_k - exact b_k|")
    assert_bitwise_equal(run.iterates, _exact(placement, exact), f"NDGM trajectory of {optimizer_subject}")
    figure("steps checked bit for bit", case.steps, keep="max")


@pytest.mark.theorem("T10", families={"sgd"})
@given(case=lasso_cases(multiples=False))
def test_never_sparse_and_two_cycle(optimizer_subject, placement, case):
    """[CUT] Prop B.1 and Prop B.2 (eqs. (16)-(18)), Prop 4.1: a coordinate whose |b_0| is not a
    multiple of s = alpha lam is never 0, and for k >= K = floor(|b_0|/s) it alternates between
    c = sign(b_0)(|b_0| - K s) and c - sign(b_0) s with |c| in (0, s): a 2-cycle, no convergence."""
    case = _in_dtype(case, placement)
    run = _run(optimizer_subject, placement, case)
    _measured_unless_exact(placement, ndgm_lasso(case.beta0, case.alpha, case.lam, case.steps), run.iterates,
                           "max |b_k - exact b_k|")
    it = run.iterates
    assert bool((it != 0).all()), f"{optimizer_subject}: a coordinate became 0 (Prop B.1 says never)"
    s = case.s
    for i, b0 in enumerate(case.beta0):
        K, c, c2 = ndgm_cycle(b0, s)
        require(0 < abs(c) < s, "T10(b): the oracle's cycle point is outside (0, s)")
        for k in range(K, case.steps + 1):
            want = c if (k - K) % 2 == 0 else c2
            assert it[k, i].item() == float(want), (
                f"{optimizer_subject}: coordinate {i} at step {k} is {it[k, i].item()!r}, "
                f"the 2-cycle of Prop B.2 gives {float(want)!r} (K={K}, c={c})")
    assert_reached(bool((it[-1] != it[-2]).all()), "T10(b): a coordinate stopped moving at the end")
    figure("cycle |c|/s (first coordinate)", float(abs(ndgm_cycle(case.beta0[0], s)[1]) / s))
    event(f"d={len(case.beta0)}")


@pytest.mark.theorem("T10", families={"sgd"})
@given(case=lasso_cases(multiples=True))
def test_zero_is_absorbing(optimizer_subject, placement, case):
    """[CUT] Table 1 (vanilla NDGM), Eq. 15: when |b_0| = K s the coordinate hits 0 exactly at
    step K and stays exactly 0 forever (sign(0) = 0: no further step)."""
    case = _in_dtype(case, placement)
    run = _run(optimizer_subject, placement, case)
    for i, b0 in enumerate(case.beta0):
        K = first_zero(b0, case.s)
        require(K is not None, "T10(c): no absorbing step for the drawn case")
        assert bool((run.iterates[:K, i] != 0).all()), f"T10(c) (Table 1): coordinate {i} was 0 before step {K}"
        tail = run.iterates[K:, i]
        assert bool((tail == 0).all()), (f"{optimizer_subject}: coordinate {i} reached 0 at step {K} but "
                                         f"then moved to {tail[tail != 0][0].item()!r} (Table 1: stays 0)")
    event(f"absorbed coordinates: {len(case.beta0)}")


@pytest.mark.theorem("T10", families={"sgd"})
@given(case=lasso_cases(multiples=False), data=st.data())
def test_lambda_paradox(optimizer_subject, placement, case, data):
    """[CUT] eq. (8), Prop B.11 and the paradox after Prop 4.1: on the cycle the mean of the two l1
    norms is exactly d alpha lam / 2 — it grows with lam; and there are lam_1 < lam_2 (same alpha,
    b_0) with every point of the lam_2 cycle of larger l1 norm than every point of the lam_1 cycle."""
    case = _in_dtype(case, placement)
    d = len(case.beta0)
    norms = {}  # lam -> l1 norms along the cycle
    for lam in (case.lam, case.lam * 2 ** data.draw(st.integers(1, 3), label="log2 lam2/lam1")):
        c = type(case)(case.beta0, case.alpha, lam, case.steps)
        run = _run(optimizer_subject, placement, c)
        _measured_unless_exact(placement, ndgm_lasso(c.beta0, c.alpha, c.lam, c.steps), run.iterates,
                               f"max |b_k - exact b_k| at lam x {lam / case.lam}")
        K = max(int(abs(b) // c.s) for b in case.beta0)
        l1 = [sum(Fraction(v) for v in row.abs().tolist()) for row in run.iterates[K:]]
        for a, b in zip(l1, l1[1:]):
            assert (a + b) / 2 == d * c.s / 2, (f"{optimizer_subject}: mean cycle l1 norm {(a + b) / 2} "
                                                f"!= d alpha lam / 2 = {d * c.s / 2} (lam={lam})")
        norms[lam] = l1
        figure("mean cycle l1 / (d s/2)", float((l1[-1] + l1[-2]) / (d * c.s)))
    # the separated pair: lam_1 small enough that its cycle hugs 0, lam_2 with s_2 > 2 max|b_0|
    m = max(abs(b) for b in case.beta0)
    l1_0 = sum(abs(b) for b in case.beta0)
    s1 = Fraction(1)
    while d * s1 > l1_0 / 2:  # s_1: the largest power of two with d s_1 <= ||b_0||_1 / 2
        s1 /= 2
    lam1 = s1 / case.alpha  # lam_1's cycle points have l1 norm < d s_1 <= ||b_0||_1 / 2
    lam2 = (4 * m + 1) / case.alpha  # s_2 > 4 m: cycle points b_0, b_0 - s_2 sign b_0 (l1 > ||b_0||_1)
    lo, hi = type(case)(case.beta0, case.alpha, lam1, 0), type(case)(case.beta0, case.alpha, lam2, 0)
    lo.steps = max(int(abs(b) // lo.s) for b in case.beta0) + 4
    hi.steps = 4
    runs = [_run(optimizer_subject, placement, c).iterates for c in (lo, hi)]
    for c, it in zip((lo, hi), runs):
        _measured_unless_exact(placement, ndgm_lasso(c.beta0, c.alpha, c.lam, c.steps), it,
                               "max |b_k - exact b_k| of the separated pair")
    k_lo = lo.steps - 3
    cyc_lo = runs[0][k_lo:].abs().sum(dim=1)
    cyc_hi = runs[1][1:].abs().sum(dim=1)
    assert float(cyc_hi.min()) > float(cyc_lo.max()), (
        f"{optimizer_subject}: lam2={lam2} cycle l1 {cyc_hi.tolist()} not above lam1={lam1} cycle {cyc_lo.tolist()}")
    figure("paradox: min l1 (lam2) / max l1 (lam1)", float(cyc_hi.min() / cyc_lo.max()), keep="min")
    event("paradox pair exhibited")


@pytest.mark.theorem("T10", families={"sgd"})
@given(case=lasso_cases(multiples=False, extra_steps=st.integers(20, 60)),
       ridge_exp=st.integers(1, 4), ridge_odd=ODD)
def test_ridge_variant(optimizer_subject, placement, case, ridge_exp, ridge_odd):
    """[CUT] Eq. 3 with the ridge term: b_{k+1} = (1 - 2 alpha lam_2) b_k - alpha lam_1 sign b_k.
    Compared with the Fraction recursion to 64 ulps of the largest coordinate (the map is a
    contraction with factor q = 1 - 2 alpha lam_2 < 1 between sign changes, so per-step roundings
    do not amplify), up to the first near-tie; never 0; and the limit: on the band |b| < s/q the
    signs alternate and the distance to the 2-cycle +-s/(1+q) contracts by exactly q per step
    (Fraction), the float run by q up to its roundings (bound derived in the body). ulp is the dtype's:
    eps = torch.finfo(dtype).eps = 2u (2^-52 in float64), b_0 on the dtype's grid."""
    case = _in_dtype(case, placement)
    eps = torch.finfo(placement.dtype).eps
    ridge = Fraction(ridge_odd, 2 ** ridge_exp) / case.alpha / 8  # 2 alpha lam_2 = odd/2^(e+2) < 1
    q = 1 - 2 * case.alpha * ridge
    require(0 < q < 1, f"T10 ridge: q = {q} outside (0, 1)")
    run = _run(optimizer_subject, placement, case, ridge=ridge)
    exact = ndgm_lasso(case.beta0, case.alpha, case.lam, case.steps, ridge=ridge)
    scale = max(abs(b) for b in case.beta0) + case.s
    tol = 64 * float(scale) * eps
    compared = 0
    for k, row in enumerate(exact):
        if any(abs(b) <= 2 * tol for b in row):
            event("ridge: near-tie reached, comparison stopped")
            break
        got = run.iterates[k].tolist()
        for i, b in enumerate(row):
            assert abs(got[i] - float(b)) <= tol, (f"{optimizer_subject}: ridge NDGM step {k} coordinate {i}: "
                                                   f"{got[i]!r} vs exact {float(b)!r} (tol {tol:.3g})")
        compared += 1
    if placement.dtype == torch.float64:
        assert_reached(compared > 0, "T10 ridge: no step compared before a near-tie")
    elif compared == 0:  # b_0 on the dtype's grid can start within the dtype's rounding of 0
        event("ridge: b_0 itself within rounding of 0 in this dtype: only the limit is checked")
    assert bool((run.iterates != 0).all()), "ridge NDGM hit 0 (non-sparse: a multiple is impossible here)"
    # the limit: on the band |b| < s/q signs alternate and b_{k+1} + sign(b_k) c = q (b_k - sign(b_k) c),
    # c = s/(1+q) (ridge_cycle): exactly in Fraction; the float run contracts towards +-c up to its
    # roundings, <= 8 u scale per step (5 roundings: 2 p ridge, the sum, lr * g, the update), summed
    # geometrically: D_N <= q^(N-K) D_K + 8 u scale / (1 - q)
    c = ridge_cycle(case.s, q)
    u = eps / 2
    entered = 0
    for i in range(len(case.beta0)):
        col = [row[i] for row in exact]
        K = next((k for k, b in enumerate(col) if abs(b) < case.s / q), None)
        if K is None or K >= case.steps:
            continue
        entered += 1
        for k in range(K, case.steps):
            sg = 1 if col[k] > 0 else -1
            # b_{k+1} + sg c = q b_k - sg (s - c) = q (b_k - sg c), as s - c = q c
            assert col[k + 1] * sg < 0 and col[k + 1] + sg * c == q * (col[k] - sg * c), (
                    f"T10 (eq. (3), ridge): exact orbit coordinate {i} at step {k} does not contract to +-s/(1+q)")
        got = run.iterates[:, i].tolist()
        Kf = next((k for k, b in enumerate(got) if abs(b) < float(case.s / q) * (1 - 2 ** -40)), None)
        assert Kf is not None and Kf <= K + 1, f"T10 (ridge): {optimizer_subject} coordinate {i} never entered the band"
        D = [abs(abs(b) - float(c)) for b in got]
        bound = float(q) ** (case.steps - Kf) * D[Kf] + 8 * u * float(scale) / (1 - float(q))
        assert D[-1] <= bound, (f"T10 (eq. (3), ridge): {optimizer_subject} coordinate {i}: distance to the limit "
                                f"+-s/(1+q) = +-{float(c):.6g} is {D[-1]:.3g} > {bound:.3g} "
                                f"after {case.steps - Kf} band steps")
        figure("ridge: final distance to +-s/(1+q), / s", D[-1] / float(case.s), keep="max")
    assert_reached(entered > 0, "a coordinate in the band |b| < s/q where the ridge orbit alternates (T10 ridge)")
    figure("ridge: cycle amplitude s/(1+q) / s", float(1 / (1 + q)), keep="min")


@st.composite
def _dead_region_cases(draw):
    """eq. (3) data with y <= 0 and X b_k < 0 along the whole NDGM orbit: column 0 of X is -1 and
    b_0's first coordinate stays positive for the horizon; the other columns are small enough."""
    case = draw(lasso_cases(multiples=False, max_d=4))
    s = case.s
    horizon = case.steps
    b_first = s * (horizon + 1) + Fraction(draw(st.integers(1, 2 ** 20 - 1)), 2 ** 20) * s
    beta0 = [b_first] + case.beta0
    # the first coordinate ends at b_first - horizon * s > s > 0: it never changes sign
    n = draw(st.integers(1, 5))
    d = len(beta0)
    # |x_rj| <= w for j >= 1 with (d - 1) w < 2^-7 <= s < b_first - horizon * s (|b_j| < 1 along the orbit)
    w = Fraction(1, 2 ** 10)
    rows = [[Fraction(-1)] + [w * draw(st.integers(-3, 3)) / 4 for _ in range(d - 1)] for _ in range(n)]
    y = [-Fraction(draw(st.integers(0, 64)), 16) for _ in range(n)]
    return type(case)(beta0, case.alpha, case.lam, horizon), rows, y


@pytest.mark.theorem("T10", families={"sgd"})
@settings(max_examples=scaled(10))
@given(data=_dead_region_cases())
def test_dead_region_of_relu_regression_is_lasso(optimizer_subject, placement, activation, data):
    """[CUT] Eq. 3 (single-layer ReLU regression, y <= 0): on the dead region {X b < 0} the data
    term is constant, so NDGM on eq. (3) is NDGM on the LASSO: bit for bit the Fraction recursion,
    the orbit stays in the region (asserted), and the LASSO coordinates cycle as in Prop B.2.
    Outside float64 the data are put on the dtype's grid; the first coordinate (> 1) has an exact
    orbit that is not representable in a narrow dtype: there the claim is measured
    (LowPrecisionEffect), unless every exact value is a float of the dtype."""
    case, rows, y = data
    if placement.dtype != torch.float64:
        bits = Fraction(torch.finfo(placement.dtype).eps).denominator.bit_length()
        first = type(case)(case.beta0[:1], case.alpha, case.lam, case.steps)
        rest = type(case)(case.beta0[1:], case.alpha, case.lam, case.steps).in_precision(bits)
        case = type(case)(first.beta0 + rest.beta0, case.alpha, case.lam, case.steps)
    X, Y = placement.tensor([[float(v) for v in r] for r in rows]), placement.tensor([float(v) for v in y])
    run = _run(optimizer_subject, placement, case, objective=relu_regression(X, Y, float(case.lam), activation))
    exact = ndgm_lasso(case.beta0, case.alpha, case.lam, case.steps)
    for row in exact:  # the region is kept along the exact orbit (non-vacuity of "dead")
        require(all(sum(x * b for x, b in zip(r, row)) < 0 for r in rows), "T10 eq. (3): data leave the dead region")
    _measured_unless_exact(placement, exact, run.iterates, "max |b_k - exact b_k| on eq. (3)'s dead region")
    assert_bitwise_equal(run.iterates, _exact(placement, exact), f"eq. (3) NDGM trajectory of {optimizer_subject}")
    event(f"rows={len(rows)}")
