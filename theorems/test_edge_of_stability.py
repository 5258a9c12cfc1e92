"""T13 — edge of stability on Lipschitz convex losses.

[CUT] Prop 5.1, eq. (10), Fig. 4; [CKLKT21]: for convex G-Lipschitz f, the subgradient method with
any constant step satisfies ||x_{k+1}-x*||^2 <= ||x_k-x*||^2 - 2 alpha (f(x_k)-f*) + alpha^2 G^2,
so it never diverges, even far above 2/sharpness — where least squares on the same data blows up.
"""
import math
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import event, given, settings
from hypothesis import strategies as st

from kinkcheck.harness.core.assertions import assert_bitwise_equal
from kinkcheck.harness.core.examples import scaled
from kinkcheck.harness.core.outcomes import require
from kinkcheck.harness.experiments.nonsmooth_runs import run_objective
from kinkcheck.harness.oracles.nonsmooth import huber_orbit, representable
from kinkcheck.harness.core.records import figure
from kinkcheck.harness.core.sharpness import sharpness
from kinkcheck.strategies.networks import seeds


def _problem(placement, kind, seed):
    """(objective, x*, G, X, y, delta) for a generated convex Lipschitz problem with f* = 0 (in exact
    arithmetic on the data as generated in ``placement.dtype``: outside float64 y = fl(X w*) need not
    be X w* exactly, and the tests measure f(x*) in float64 instead of assuming 0)."""
    gen = placement.generator(seed)
    opts = dict(generator=gen, dtype=placement.dtype, device=placement.device)
    if kind == "abs":
        xs = torch.randn(1, **opts)
        return (lambda p: (p - xs).abs().sum()), xs, 1.0, None, None, None
    if kind == "l1":
        d = 4
        lam = 0.5 + float(torch.rand(1, **opts))
        xs = torch.randn(d, **opts)
        return (lambda p: lam * (p - xs).abs().sum()), xs, lam * math.sqrt(d), None, None, None
    n, d = 4, 8  # Huber regression, overparameterized, y = X w*: f* = 0 at w*  ([CUT] eq. (10))
    X = torch.randn(n, d, **opts)
    ws = torch.randn(d, **opts)
    y = X @ ws
    delta = 0.5
    G = delta * float(X.norm(dim=1).sum())
    return (lambda p: F.huber_loss(X @ p, y, delta=delta, reduction="sum")), ws, G, X, y, delta


def _huber64(X, y, delta):
    """The same Huber regression in float64 on the very data the subject sees (the oracles' objective:
    only the subject's path runs in the requested dtype)."""
    X64, y64 = X.double(), y.double()
    return (lambda p: F.huber_loss(X64 @ p.double(), y64, delta=delta, reduction="sum")), X64, y64


@pytest.mark.theorem("T13", families={"sgd"})
@settings(max_examples=scaled(10))
@given(kind=st.sampled_from(["abs", "l1", "huber"]), seed=seeds, log_alpha=st.floats(-6, 2), steps=st.integers(5, 80))
def test_subgradient_inequality_every_step(optimizer_subject, placement, kind, seed, log_alpha, steps):
    """[CUT] Prop 5.1 (the subgradient-method inequality): at every step
    ||x_{k+1}-x*||^2 <= ||x_k-x*||^2 - 2 alpha (f(x_k)-f*) + alpha^2 G^2, and the best iterate obeys
    min_{i<=k} f(x_i) - f* <= (||x_0-x*||^2 + alpha^2 G^2 (k+1)) / (2 alpha (k+1)) for every k.
    Slack 1e-9 relative to the terms (float64 rounding of norms and losses), plus the derived
    rounding of the subject's own steps (u = finfo(dtype).eps/2; negligible in float64): distances and
    losses are evaluated in float64 on the subject's iterates (f* = f(x*) in float64 on the data the
    subject sees), and the computed step x_{k+1} = fl(x_k - alpha g~_k) lies within
    D_k = u ||x_{k+1}|| + alpha (u ||g~_k|| + ||g~_k - g_k||) of the exact subgradient step, with
    ||g~_k - g_k|| <= u G (abs, l1: only lam is rounded, signs are exact) or, for Huber,
    ||X||_2 (d+1) u ||(|X||x_k| + |y|)|| + n u delta ||X||_F (the residual's and the product's
    roundings; clipping is 1-Lipschitz). The inequality then holds with 2 D_k (||x_{k+1} - x*|| + D_k) +
    D_k^2 added, and the best-iterate bound with the sum of those over 2 alpha (k+1)."""
    f, xs, G, X, y, delta = _problem(placement, kind, seed)
    alpha = math.exp(log_alpha) / G
    x0 = xs + torch.randn(xs.shape, generator=placement.generator(seed + 1), dtype=xs.dtype, device=xs.device) * 3
    run = run_objective(optimizer_subject, x0, f, {"lr": alpha, "weight_decay": 0.0}, steps)
    u = torch.finfo(xs.dtype).eps / 2
    its, xs64 = run.iterates.double(), xs.double()
    dist2 = [float(((x - xs64) ** 2).sum()) for x in its]
    if kind == "huber":
        f64, X64, y64 = _huber64(X, y, delta)
        xnorm2, xfro = float(torch.linalg.matrix_norm(X64, ord=2)), float(X64.norm())
        gerr = [xnorm2 * (X.shape[1] + 1) * u * float((X64.abs() @ x.abs() + y64.abs()).norm())
                + X.shape[0] * u * delta * xfro for x in its]
    else:
        f64 = f  # lam and x* are the subject's; a float64 argument promotes the evaluation to float64
        gerr = [u * G] * len(its)
    if xs.dtype == torch.float64:
        fx = run.losses  # unchanged in float64: the subject's objective is already the oracle's
        fstar = 0.0
    else:
        fx = [float(f64(x)) for x in its[:-1]]
        fstar = float(f64(xs64))
    worst = -math.inf
    excess = 0.0
    for k in range(steps):
        D = u * float(its[k + 1].norm()) + alpha * (u * G + gerr[k])
        rnd = 2 * D * (math.sqrt(dist2[k + 1]) + D) + D * D
        excess += rnd
        rhs = dist2[k] - 2 * alpha * (fx[k] - fstar) + alpha ** 2 * G ** 2
        slack = 1e-9 * (dist2[k] + 2 * alpha * abs(fx[k]) + alpha ** 2 * G ** 2) + rnd
        assert dist2[k + 1] <= rhs + slack, (f"{optimizer_subject}: step {k}: ||x_k+1 - x*||^2 = {dist2[k + 1]:.6g} > "
                                             f"{rhs:.6g} (Prop 5.1), f={kind}, alpha={alpha:.3g}")
        best = min(fx[: k + 1]) - fstar
        bound = (dist2[0] + alpha ** 2 * G ** 2 * (k + 1) + excess) / (2 * alpha * (k + 1))
        assert best <= bound * (1 + 1e-9), (
            f"{optimizer_subject}: best iterate {best:.6g} above the bound {bound:.6g} at k={k}")
        worst = max(worst, best / bound)
    figure("best-iterate bound: max (min f)/bound", worst, keep="max")
    event(kind)


@pytest.mark.theorem("T13", families={"sgd"})
@settings(max_examples=scaled(5))
@given(seed=seeds, c=st.sampled_from([2.0, 4.0, 8.0]))
def test_huber_bounded_least_squares_diverges(optimizer_subject, placement, seed, c):
    """[CUT] Prop 5.1, eq. (10), Fig. 4: with alpha = c * 2/lambda_max (c >= 2; lambda_max, the
    sharpness of the quadratic zone = of least squares, from Hessian-vector products and checked
    against numpy.linalg.eigvalsh) Huber regression stays bounded — in the row space of X,
    ||P e_k|| <= max(||P e_0||, R + alpha G) with R = (alpha G^2/(2 delta) + n delta/2)/sigma_min,
    because h_delta(r) >= delta(|r| - delta/2) — while least squares on the same X, y, alpha
    diverges geometrically (factor |1 - alpha lambda_max| >= 3 per step).
    Oracles (HVP, eigvalsh, SVD, QR) run in float64 on the data the subject sees. Outside exact
    arithmetic the bound grows by derived rounding terms (u = finfo(dtype).eps/2): y = fl(X w*) leaves
    a residual r_0 = X w* - y and each step's residual X x - y is computed with an error of at most
    (d+1) u (|X||x| + |y|) (a shift of the targets: R grows by their norms / sigma_min); each update
    adds at most u (||x_{k+1}|| + alpha ||g_k||) (the rounding of the product and of the sum), summed
    over the steps. Least squares runs N = 40 steps, fewer where (2c - 1)^N (||x_0|| + ||w*||) would
    leave the dtype's range (float16: overflow is not divergence), and must grow more than
    10^(6 N / 40)-fold (1e6 at N = 40)."""
    f, ws, G, X, y, delta = _problem(placement, "huber", seed)
    _, X64, y64 = _huber64(X, y, delta)
    ws64 = ws.double()
    u = torch.finfo(ws.dtype).eps / 2
    ls = lambda p: 0.5 * ((X64 @ p - y64) ** 2).sum()
    lam_max = sharpness(ls, ws64, generator=placement.generator(seed + 2))
    eig = float(np.linalg.eigvalsh((X64.T @ X64).cpu().numpy()).max())
    assert abs(lam_max - eig) <= 1e-8 * eig, f"HVP power iteration {lam_max!r} vs eigvalsh {eig!r}"
    alpha = c * 2 / lam_max
    x0 = ws + torch.randn(ws.shape, generator=placement.generator(seed + 1), dtype=ws.dtype, device=ws.device)
    steps = 60
    hub = run_objective(optimizer_subject, x0, f, {"lr": alpha, "weight_decay": 0.0}, steps)
    sv = np.linalg.svd(X64.cpu().numpy(), compute_uv=False)
    sigma_min = float(sv[sv > 1e-12 * sv.max()].min())
    n = X.shape[0]
    R = (alpha * G ** 2 / (2 * delta) + n * delta / 2) / sigma_min
    Q = torch.linalg.qr(X64.T).Q  # orthonormal basis of the row space
    its = hub.iterates.double()
    pe = [(Q.T @ (x - ws64)).norm().item() for x in its]
    r0 = float((X64 @ ws64 - y64).norm())
    e_max = max(float(((X64.abs() @ x.abs() + y64.abs()) * (X.shape[1] + 1) * u).norm()) for x in its)
    drift = sum(u * (float(x.norm()) + alpha * G) for x in its[1:])
    limit = max(pe[0], R + alpha * G) + (r0 + e_max) / sigma_min + drift
    assert max(pe) <= limit * (1 + 1e-9), (
        f"{optimizer_subject}: Huber iterates left the bound {limit:.4g}: {max(pe):.4g}")
    assert all(math.isfinite(v) for v in hub.losses), "T13(c) ([CUT] Prop 5.1): a Huber loss went non-finite"
    start = float(x0.double().norm()) + float(ws64.norm())
    N = 40
    while N > 2 and (2 * c - 1) ** N * start * (1 + lam_max) > torch.finfo(ws.dtype).max / 4:
        N -= 1
    lsq = run_objective(optimizer_subject, x0, lambda p: 0.5 * ((X @ p - y) ** 2).sum(),
                        {"lr": alpha, "weight_decay": 0.0}, N)
    growth = (lsq.iterates[-1].double() - ws64).norm().item() / (x0.double() - ws64).norm().item()
    target = 10.0 ** (6 * N / 40)
    assert growth > target, (f"{optimizer_subject}: least squares at alpha = {c} * 2/lambda_max grew only "
                             f"x{growth:.3g} in {N} steps (T13: > {target:.3g})")
    figure("alpha lambda_max / 2", c, keep="max")
    figure("least squares growth rate per step", growth ** (1 / N), keep="min")
    figure("Huber max ||P e_k|| / bound", max(pe) / limit, keep="max")


def _huber_orbit_run(subject, placement, x0, delta, eta, steps):
    f = lambda p: F.huber_loss(p, torch.zeros_like(p), delta=float(delta), reduction="sum")
    return run_objective(subject, placement.tensor([float(x0)]), f, {"lr": float(eta), "weight_decay": 0.0}, steps)


@pytest.mark.theorem("T13", families={"sgd"})
@given(delta=st.sampled_from([Fraction(1, 2), Fraction(1), Fraction(2)]),
       eta=st.integers(1, 15).map(lambda j: Fraction(j, 4)),
       x0=st.integers(-256, 256).map(lambda n: Fraction(n, 16)), steps=st.integers(5, 40))
def test_huber_orbits_exact(optimizer_subject, placement, delta, eta, x0, steps):
    """[CUT] Eq. 10, Fig. 4: gradient descent on the 1-D Huber loss, x_{k+1} = x_k - eta
    clip(x_k, -delta, delta), equals the Fraction orbit bit for bit with dyadic inputs, in any dtype
    where every iterate of the exact orbit is a normal float of that dtype (else the case is counted
    as an event and not compared: rounding of the orbit itself is not what eq. (10) describes)."""
    exact = huber_orbit(x0, delta, eta, steps)
    if not all(representable(v, placement.dtype) and abs(v) < 2 ** 60 for v in exact):
        event(f"orbit leaves {placement.dtype}'s exact range: not compared")
        return
    run = _huber_orbit_run(optimizer_subject, placement, x0, delta, eta, steps)
    assert_bitwise_equal(run.iterates[:, 0], placement.tensor([float(v) for v in exact]),
                         f"Huber orbit of {optimizer_subject}")
    event("cycle" if exact[-1] == exact[-3] and exact[-1] != exact[-2] else "other")


@pytest.mark.theorem("T13", families={"sgd"})
def test_huber_two_cycle_and_convergence(optimizer_subject, placement):
    """[CUT] Prop 5.1 setting, Fig. 4 (THEOREMS.md T13(d)): delta = 1, x0 = 5: eta = 3 gives the 2-cycle (2, -1) —
    above 2/sharpness = 2, bounded, never converging; eta = 1.5 < 2 converges. Bit for bit with the
    Fraction orbit while its values are normal floats of the dtype (all of it in float64; float16's
    normal range ends at 2^-14, where eta = 1.5's halving orbit leaves it). The compared prefix must
    show the claim: for eta = 3 every step of the run, for eta = 1.5 the orbit down to |x| <= u delta
    (u the dtype's unit roundoff: converged to the dtype's resolution of the problem's scale)."""
    u = Fraction(torch.finfo(placement.dtype).eps) / 2
    for eta, steps in ((Fraction(3), 30), (Fraction(3, 2), 60)):
        exact = huber_orbit(Fraction(5), Fraction(1), eta, steps)
        run = _huber_orbit_run(optimizer_subject, placement, Fraction(5), Fraction(1), eta, steps)
        n = next((k for k, v in enumerate(exact) if not representable(v, placement.dtype)), len(exact))
        shows_claim = n == len(exact) if eta == 3 else any(abs(v) <= u for v in exact[:n])
        require(shows_claim, f"T13(d): the exact orbit for eta = {eta} leaves {placement.dtype}'s normal range "
                             f"after {n} steps, before it shows the claim (the suite's data)")
        assert_bitwise_equal(run.iterates[:n, 0], placement.tensor([float(v) for v in exact[:n]]),
                             f"Huber orbit eta={eta}")
        if eta == 3:
            assert exact[1:5] == [2, -1, 2, -1] and run.iterates[-2:, 0].tolist() in ([2.0, -1.0], [-1.0, 2.0]), (
        "T13(d) ([CUT] eq. (10), Fig. 4): eta = 3 does not give the 2-cycle (2, -1)")
        else:
            # below 2^-40, or below the dtype's smallest normal where that is larger (float16: 2^-14)
            small = max(2.0 ** -40, torch.finfo(placement.dtype).tiny)
            assert abs(exact[-1]) < Fraction(1, 2 ** 40) and abs(run.iterates[-1, 0].item()) <= small, (
        f"T13(d) ([CUT] eq. (10)): eta = 1.5 does not converge below {small:.3g}")
    figure("eta=3 cycle", "(2, -1)")


def _active_sharpness(X, w, y, delta):
    """Huber regression's Hessian at w is X_A^T X_A over the rows with |x_i^T w - y_i| < delta (the
    quadratic zone; h_delta'' = 0 outside): its top eigenvalue by numpy.linalg.eigvalsh (independent oracle)."""
    A = ((X @ w - y).abs() < delta)
    if not bool(A.any()):
        return 0.0
    XA = X[A].cpu().numpy()
    return float(np.linalg.eigvalsh(XA.T @ XA).max())


@pytest.mark.theorem("T13", families={"sgd"})
@settings(max_examples=scaled(4))
@given(seed=seeds, c=st.sampled_from([2.0, 4.0]))
def test_sharpness_along_the_trajectory(optimizer_subject, placement, seed, c):
    """[CKLKT21] and [CUT] Sec 5 (Prop 5.1, eq. (10), Fig. 4): sharpness measured along the GD
    trajectory on Huber regression (HVP power iteration, checked against eigvalsh of the active
    rows' Gram matrix X_A^T X_A). Below the edge (eta = 1/S, S = lambda_max(X^T X), Huber is
    S-smooth) the sharpness stays <= S < 2/eta and the loss never increases (descent lemma:
    f(x_{k+1}) <= f(x_k) - eta (1 - eta S/2) ||g_k||^2). Above it (eta = c * 2/S) the loss stays finite
    and within G ||x_k - x*|| <= G sqrt(||x_0 - x*||^2 + k eta^2 G^2) (Prop 5.1's inequality); the edge-of-
    stability signal itself -- the share of steps whose sharpness exceeds 2/eta and the number of
    loss increases -- is measured and reported (the theory fixes neither)."""
    f, ws, G, X, y, delta = _problem(placement, "huber", seed)
    f64, X64, y64 = _huber64(X, y, delta)
    S = float(np.linalg.eigvalsh((X64.T @ X64).cpu().numpy()).max())
    x0 = ws + torch.randn(ws.shape, generator=placement.generator(seed + 1), dtype=ws.dtype, device=ws.device)
    steps, u = 60, torch.finfo(ws.dtype).eps / 2
    for eta in (1 / S, c * 2 / S):
        run = run_objective(optimizer_subject, x0, f, {"lr": eta, "weight_decay": 0.0}, steps)
        its = run.iterates.double()
        sharp = [_active_sharpness(X64, x, y64, delta) for x in its[:-1]]
        for k in (0, steps // 2, steps - 1):  # HVP power iteration at visited iterates vs the oracle
            hv = sharpness(f64, its[k], generator=placement.generator(seed + 3))
            assert abs(hv - sharp[k]) <= 1e-8 * S, f"T13: HVP sharpness {hv!r} vs eigvalsh {sharp[k]!r} at step {k}"
        L = run.losses
        # rounding of a loss of n Huber terms: <= (n + 2 d) u (|terms| summed) <= 4 (n + d) u (L + G ||x - x*||)
        slack = [4 * (X.shape[0] + X.shape[1]) * u * (L[k] + G * float((run.iterates[k] - ws).norm()))
                 for k in range(steps)]
        if eta < 2 / S:
            assert max(sharp) <= S * (1 + 1e-12) and S < 2 / eta, (
        f"T13(c) ([CKLKT21]): sharpness {max(sharp):.6g} above S = {S:.6g} at eta = 1/S")
            for k in range(steps - 1):
                assert L[k + 1] <= L[k] + slack[k] + slack[k + 1], (
                    f"T13 (descent lemma, eta < 2/S): {optimizer_subject} Huber loss rose at step {k + 1}: "
                    f"{L[k]!r} -> {L[k + 1]!r}")
            figure("below the edge: loss decrease first -> last", L[-1] / L[0], keep="max")
        else:
            d0 = float((x0 - ws).norm())
            for k in range(steps):
                bound = G * math.sqrt(d0 ** 2 + k * eta ** 2 * G ** 2)
                assert math.isfinite(L[k]) and L[k] <= bound * (1 + 1e-9), (
                    f"T13 (Prop 5.1): {optimizer_subject} Huber loss {L[k]!r} above {bound:.4g} at step {k}, "
                    f"eta = {c} * 2/S")
            figure("above the edge: share of steps with sharpness > 2/eta", sum(v > 2 / eta for v in sharp) / steps,
                   keep="max")
            figure("above the edge: steps where the loss rose", sum(b > a for a, b in zip(L, L[1:])), keep="max")
            figure("above the edge: max sharpness * eta / 2", max(sharp) * eta / 2, keep="max")
