"""``kinkcheck report``: plots of the theorems' measured figures against the theory.

Reads the JSON report a run wrote (``pytest theorems/ --kinkcheck-report-json r.json``) and writes PNGs:

- ``conformance.png``      the subject x theorem table, coloured by outcome;
- ``t5_width.png``          P(some neuron inactive) = 1 - (1 - p)^H, a lower bound on
                            P(non-convergence) ([GM] Thm 4.2, Cor 4.3), vs the width H, with
                            Monte Carlo frequencies sampled here from the harness;
- ``t6_depth.png``          the born-dead table of the report ([LSSK20], [OR] Thm 1.3: frequency with
                            its Clopper-Pearson interval per width and depth) with the bound
                            1 - prod(1 - 2^{-l(l+1)}) per width, and the width-2 depths at which
                            the measured probability and the bound pass 0.99;
- ``t10_ndgm.png``          NDGM on the toy LASSO ([CUT] eq. (15), Prop B.2): the walk into the
                            2-cycle, and the lambda paradox (eq. (8)): the cycle's l1 norm grows
                            with lambda (exact Fraction oracle);
- ``t12_rmsprop_ndgm.png``  late-phase l1 norms of RMSProp (eps = 0, closed form eq. (25) and
                            torch.optim.RMSprop) and NDGM vs lambda ([CUT] Prop B.5, B.11, Fig. 6);
- ``t13_huber.png``         gradient descent above 2/lambda_max: Huber stays bounded, least squares
                            diverges ([CUT] Prop 5.1, Fig. 4); and the 1-D Huber orbits of Fig. 4.

Curves the report does not contain (time series) are computed here from the harness oracles;
values that the report does contain are drawn from it and say so in the legend. Needs
matplotlib (``pip install "kinkcheck[plot]"``).
"""
from __future__ import annotations

import json
import re
import sys
from fractions import Fraction
from pathlib import Path

OUTCOME_COLOURS = {"passed": "#4caf50", "failed": "#e53935", "xfail": "#ffb300", "xpass": "#8e24aa",
                   "out-of-scope": "#90a4ae", "skipped": "#cfd8dc"}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("report", help="plot the measured figures of a JSON report against the theory",
                              description=__doc__, formatter_class=_raw())
    p.add_argument("--json", metavar="PATH", help="report written by pytest --kinkcheck-report-json")
    p.add_argument("--out", metavar="DIR", help="directory for the PNGs (created)")
    p.add_argument("--merge", nargs="+", metavar="SHARD.json",
                   help="merge the JSON reports of disjoint shards of one run into one conformance table "
                        "(printed; --json-out/--md-out write it); no plots")
    p.add_argument("--json-out", metavar="PATH", help="with --merge: write the merged JSON report")
    p.add_argument("--md-out", metavar="PATH", help="with --merge: write the merged Markdown table")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="with --merge: also print the measured figures (the JSON and Markdown outputs have them)")
    p.add_argument("--only", default=None, metavar="NAMES",
                   help="comma-separated subset of: " + ", ".join(PLOTS))
    p.add_argument("--dpi", type=int, default=110)
    p.set_defaults(func=run)


def _raw():
    import argparse
    return argparse.RawDescriptionHelpFormatter


# ----------------------------------------------------------------------------- the report
class Report:
    def __init__(self, payload: dict):
        self.meta = payload.get("meta", {})
        self.cells = payload.get("cells", [])
        self.tests = payload.get("tests", [])

    @classmethod
    def load(cls, path) -> "Report":
        return cls(json.loads(Path(path).read_text()))

    def figures(self, theorem: str) -> dict[str, list]:
        """name -> values recorded under ``theorem`` (one per test that recorded it)."""
        out: dict[str, list] = {}
        for t in self.tests:
            if t.get("theorem") == theorem:
                for name, value in (t.get("figures") or {}).items():
                    out.setdefault(name, []).append(value)
        return out

    def stamp(self) -> str:
        m = self.meta
        return (f"kinkcheck {m.get('kinkcheck', '?')}, torch {m.get('torch', '?')}"
                + (f", exit status {m['exitstatus']}" if "exitstatus" in m else ""))


def _numbers(values) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]


# ----------------------------------------------------------------------------- plotting helpers
def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"font.size": 10, "axes.grid": True, "grid.alpha": 0.3, "legend.fontsize": 8.5,
                         "axes.titlesize": 10.5})
    return plt


def _save(fig, path: Path, report: Report, dpi: int) -> Path:
    fig.get_layout_engine().set(rect=(0, 0.03, 1, 0.97))  # room for the stamp below the axes
    fig.text(0.995, 0.005, report.stamp(), ha="right", va="bottom", fontsize=7, color="0.45")
    fig.savefig(path, dpi=dpi)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- conformance
def plot_conformance(report: Report, out: Path, dpi: int) -> Path | None:
    if not report.cells:
        return None
    plt = _plt()
    from matplotlib.patches import Patch

    def order(t):
        return (0, int(t[1:])) if t[1:].isdigit() else (1, t)

    theorems = sorted({c["theorem"] for c in report.cells}, key=order)
    subjects = sorted({c["subject"] for c in report.cells}, key=lambda s: (s == "(suite)", s))
    by = {(c["theorem"], c["subject"]): c for c in report.cells}
    fig, ax = plt.subplots(figsize=(max(7.0, 3.2 + 0.62 * len(theorems)), 1.6 + 0.26 * len(subjects)),
                           layout="constrained")
    for i, s in enumerate(subjects):
        for j, t in enumerate(theorems):
            c = by.get((t, s))
            colour = OUTCOME_COLOURS.get(c["outcome"], "white") if c else "white"
            ax.add_patch(plt.Rectangle((j, i), 1, 1, facecolor=colour, edgecolor="white", linewidth=1.5))
            if c is None:
                ax.text(j + 0.5, i + 0.5, "n/a", ha="center", va="center", fontsize=6.5, color="0.6")
            elif c["outcome"] in ("passed", "failed", "xfail", "xpass"):
                text = str(c["cases"]) + ("+" if c.get("out_of_scope") else "")
                ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=6.5)
    ax.set_xlim(0, len(theorems))
    ax.set_ylim(len(subjects), 0)
    ax.set_xticks([j + 0.5 for j in range(len(theorems))], theorems)
    ax.set_yticks([i + 0.5 for i in range(len(subjects))], subjects, fontsize=7)
    ax.xaxis.tick_top()
    ax.grid(False)
    ax.set_title("conformance: generated cases per cell\n(+: decay configurations also run, reported out of scope)",
                 fontsize=9)
    used = {c["outcome"] for c in report.cells}
    ax.legend(handles=[Patch(color=OUTCOME_COLOURS[o], label=o) for o in OUTCOME_COLOURS if o in used],
              loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _save(fig, out / "conformance.png", report, dpi)


# ----------------------------------------------------------------------------- T5
def plot_t5_width(report: Report, out: Path, dpi: int) -> Path | None:
    """[GM] Thm 4.2, Cor 4.3: P(non-convergence) >= P(some neuron inactive) = 1 - (1 - p)^H."""
    import torch

    from kinkcheck.harness.core.initializations import inactivity_counts, sample_first_layer
    from kinkcheck.harness.oracles.inactivity import any_inactive_probability, inactivity_probability, torch_default
    from kinkcheck.harness.core.stats import clopper_pearson

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.2, 4.4), layout="constrained")
    widths = list(range(1, 21))
    n = 1 << 13
    gen = torch.Generator().manual_seed(5)
    for (lo_, hi_), colour in (((0.0, 1.0), "C0"), ((-1.0, 1.0), "C1")):
        law = torch_default(1)
        p = inactivity_probability(law, [lo_], [hi_])
        theory = [float(any_inactive_probability(p, h)) for h in widths]
        ax.plot(widths, theory, "-", color=colour, label=f"theory 1-(1-p)^H, D=[{lo_:g},{hi_:g}], p={p}")
        lo, hi = torch.tensor([lo_], dtype=torch.float64), torch.tensor([hi_], dtype=torch.float64)
        sampled = widths[::3]
        freq, err = [], [[], []]
        for h in sampled:
            _, with_any, _ = inactivity_counts(sample_first_layer, law, n, h, lo, hi, generator=gen)
            f = with_any / n
            a, b = clopper_pearson(with_any, n, 0.999)
            freq.append(f)
            err[0].append(f - a)
            err[1].append(b - f)
        ax.errorbar(sampled, freq, yerr=err, fmt="o", color=colour, ms=4, capsize=2,
                    label=f"Monte Carlo, {n} networks (99.9% CI), D=[{lo_:g},{hi_:g}]")
    trained = _numbers(report.figures("T5").get("fraction without inactive neuron after training", []))
    note = ""
    if trained:
        note = (f"\nreport: after 200 training steps, fraction with no inactive neuron <= {max(trained):.3f} "
                f"(max over {len(trained)} subjects)")
    ax.set_xlabel("hidden width H (nn.Linear default init, d = 1)")
    ax.set_ylabel("P(some neuron inactive on D)  <=  P(no convergence)")
    ax.set_ylim(0, 1.02)
    ax.set_xticks(widths[::2])
    ax.set_title("T5 [GM] Thm 4.2, Cor 4.3: the probability of non-convergence grows with the width" + note)
    ax.legend(loc="lower right")
    return _save(fig, out / "t5_width.png", report, dpi)


# ----------------------------------------------------------------------------- T6
_BORN = re.compile(r"born dead w=(\d+) L=(\d+)")
_TRIPLE = re.compile(r"([0-9.]+)\s*\[([0-9.]+),\s*([0-9.]+)\]")


def born_dead_table(report: Report) -> dict[int, list[tuple[int, float, float, float]]]:
    """width -> [(depth, frequency, ci low, ci high)] from the report's born-dead figures."""
    table: dict[int, list] = {}
    for name, values in report.figures("T6").items():
        m = _BORN.fullmatch(name)
        if not m or not values:
            continue
        v = _TRIPLE.match(str(values[-1]))
        if v:
            table.setdefault(int(m[1]), []).append((int(m[2]), *map(float, v.groups())))
    return {w: sorted(rows) for w, rows in sorted(table.items())}


def plot_t6_depth(report: Report, out: Path, dpi: int) -> Path | None:
    """[OR] Thm 1.2, 1.3; [LSSK20]: P(dead layer) -> 1 with depth; the born-dead table."""
    from kinkcheck.harness.oracles.inactivity import dead_layer_lower_bound

    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 5.0), layout="constrained")
    table = born_dead_table(report)
    max_depth = max((r[0] for rows in table.values() for r in rows), default=20)
    depths = list(range(2, max_depth + 1))
    for i, w in enumerate(sorted(set(table) | {1, 2, 3, 4})):
        colour = f"C{i}"
        bound = [float(dead_layer_lower_bound([w] * L)) for L in depths]
        ax.plot(depths, bound, "--", color=colour, lw=1.2)
        rows = table.get(w)
        if rows:
            L, f, lo, hi = zip(*rows)
            ax.errorbar(L, f, yerr=[[a - b for a, b in zip(f, lo)], [b - a for a, b in zip(f, hi)]], fmt="o-",
                        color=colour, ms=5, capsize=3, label=f"width {w}")
    ax.set_xlabel("depth L (hidden layers of width w, N(0,1) init, D = [-1, 1])")
    ax.set_ylabel("P(network born dead)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("T6 [LSSK20], [OR] Thm 1.3: born-dead frequency vs depth" +
                 ("" if table else "\n(no born-dead figures in this report: bound only)"))
    from matplotlib.lines import Line2D
    handles, _ = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="0.3", marker="o", label="born dead (report, 99.9% Clopper-Pearson)"),
                Line2D([], [], color="0.3", ls="--", label="bound 1 − Π(1 − 2^−w(w+1)), same width")]
    ax.legend(handles=handles, ncol=3, fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.13))

    figs = report.figures("T6")
    long = list(range(2, 400))
    ax2.plot(long, [float(dead_layer_lower_bound([2] * L)) for L in long], "-", color="C1",
             label="bound, width 2")
    ax2.axhline(0.99, color="0.4", lw=0.8, ls=":")
    ax2.text(2.1, 0.965, "0.99", fontsize=8, color="0.3", va="top")
    marks = [(k, v) for k, v in figs.items() if k.startswith("width-2 depth")]
    for j, (name, values) in enumerate(sorted(marks)):
        nums = _numbers(values)
        if not nums:
            continue
        depth = max(nums)
        style = ("C3", "-") if "measured" in name else ("C1", "--")
        colour = style[0] if "measured" not in name else f"C{3 + j}"
        ax2.axvline(depth, color=colour, ls=style[1], lw=1.2, label=f"{name}: {depth:g} (report)")
    ax2.set_xscale("log")
    ax2.set_xlabel("depth L (width 2)")
    ax2.set_ylabel("P(some hidden layer dead on D)")
    ax2.set_title("T6 [OR] Thm 1.3: depth at which a dead layer is 99% certain")
    ax2.legend(fontsize=7.5, loc="lower right")
    return _save(fig, out / "t6_depth.png", report, dpi)


# ----------------------------------------------------------------------------- T10
def plot_t10_ndgm(report: Report, out: Path, dpi: int) -> Path | None:
    """[CUT] eq. (15), Prop B.2: the 2-cycle; eq. (8) and Prop B.11: the lambda paradox."""
    from kinkcheck.harness.oracles.nonsmooth import ndgm_cycle, ndgm_lasso

    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.4), layout="constrained")
    beta0 = [Fraction(13, 10), Fraction(-9, 10)]
    alpha, lam = Fraction(1, 4), Fraction(1)
    steps = 14
    traj = ndgm_lasso(beta0, alpha, lam, steps)
    s = alpha * lam
    for i, b0 in enumerate(beta0):
        K, c, c2 = ndgm_cycle(b0, s)
        ax.plot(range(steps + 1), [float(r[i]) for r in traj], "o-", ms=3, color=f"C{i}",
                label=f"b0={float(b0):g}: cycle ({float(c):.3g}, {float(c2):.3g}) from k={K}")
    ax.axhline(0, color="k", lw=0.8)
    ax.axhspan(-float(s), float(s), color="0.85", zorder=0, label="|b| < s = αλ")
    ax.set_xlabel("step k")
    ax.set_ylabel("coordinate b_k")
    ax.set_title(f"T10 [CUT] eq. (15), Prop B.2: NDGM on λ||b||₁ (α={alpha}, λ={lam}) never reaches 0")
    ax.legend(fontsize=7.5)

    lams = [Fraction(2) ** j for j in range(-4, 5)]
    d = len(beta0)
    lo_pts, hi_pts, means = [], [], []
    for lm in lams:
        sl = alpha * lm
        K = max(int(abs(b) // sl) for b in beta0)
        tr = ndgm_lasso(beta0, alpha, lm, K + 4)
        l1 = [sum(abs(b) for b in row) for row in tr[-2:]]
        lo_pts.append(float(min(l1)))
        hi_pts.append(float(max(l1)))
        means.append(float(sum(l1) / 2))
    x = [float(v) for v in lams]
    ax2.plot(x, [float(d * alpha * lm / 2) for lm in lams], "-", color="C0", label="theory: mean cycle ‖b‖₁ = dαλ/2")
    ax2.vlines(x, lo_pts, hi_pts, color="C1", lw=3, alpha=0.6, label="the two cycle points (exact)")
    ax2.plot(x, means, "o", color="C1", ms=4, label="cycle mean (exact Fraction oracle)")
    ax2.axhline(float(sum(abs(b) for b in beta0)), color="0.4", ls=":", label="‖b₀‖₁")
    ax2.set_xscale("log", base=2)
    ax2.set_xlabel("penalty λ")
    ax2.set_ylabel("‖b_k‖₁ on the 2-cycle")
    figs = report.figures("T10")
    ratio = _numbers(figs.get("paradox: min l1 (lam2) / max l1 (lam1)", []))
    mean = _numbers(figs.get("mean cycle l1 / (d s/2)", []))
    note = []
    if mean:
        note.append(f"measured mean/(dαλ/2) = {min(mean):g}..{max(mean):g}")
    if ratio:
        note.append(f"paradox ratio min l1(λ₂)/max l1(λ₁) ≥ {min(ratio):.3g}")
    ax2.set_title("T10 [CUT] eq. (8): the λ paradox — more penalty, larger ‖b‖₁"
                  + ("\nreport: " + "; ".join(note) if note else ""))
    ax2.legend(fontsize=7.5, loc="upper left")
    return _save(fig, out / "t10_ndgm.png", report, dpi)


# ----------------------------------------------------------------------------- T12
def plot_t12_rmsprop(report: Report, out: Path, dpi: int) -> Path | None:
    """[CUT] Prop B.5, B.11, Fig. 6: RMSProp (eps = 0) ignores lambda; NDGM's cycle scales with it."""
    import torch

    from kinkcheck.harness.oracles.nonsmooth import ndgm_lasso, rmsprop_l1_closed_form

    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.4), layout="constrained")
    beta0 = [0.9, -0.55, 0.35, -1.2]
    d = len(beta0)
    alpha, rho, steps, window = Fraction(1, 32), 0.9, 300, 40
    rms = rmsprop_l1_closed_form(beta0, float(alpha), rho, steps, dps=30)
    rms_l1 = [float(sum(abs(v) for v in row)) for row in rms]
    ax.plot(rms_l1, "--", color="k", lw=1.2, zorder=5, label="RMSProp ε=0, any λ (closed form eq. (25))")
    lams = [Fraction(1, 4), Fraction(1), Fraction(4)]
    for i, lm in enumerate(lams):
        tr = ndgm_lasso([Fraction(b) for b in beta0], alpha, lm, steps)
        ax.plot([float(sum(abs(b) for b in row)) for row in tr], "-", color=f"C{i}", lw=1,
                label=f"NDGM λ={lm} (exact), cycle mean dαλ/2={float(d * alpha * lm / 2):.3g}")
    ax.set_yscale("log")
    ax.set_xlabel("step k")
    ax.set_ylabel("‖b_k‖₁ on λ‖b‖₁")
    ax.set_title(f"T12 [CUT] Prop B.4-B.5: trajectories (d={d}, α={alpha}, ρ={rho})")
    ax.legend(fontsize=7.5, loc="upper right")

    grid = [Fraction(2) ** j for j in range(-4, 5)]
    ndgm_late = [float(d * alpha * lm / 2) for lm in grid]
    rms_late = sum(rms_l1[-window:]) / window
    measured = []
    for lm in grid:  # torch's own RMSprop with eps = 0 on the same problem
        p = torch.tensor(beta0, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.RMSprop([p], lr=float(alpha), alpha=rho, eps=0.0)
        norms = []
        for _ in range(steps):
            opt.zero_grad()
            (float(lm) * p.abs().sum()).backward()
            opt.step()
            norms.append(float(p.detach().abs().sum()))
        measured.append(sum(norms[-window:]) / window)
    x = [float(v) for v in grid]
    ax2.plot(x, ndgm_late, "o-", color="C0", label="NDGM late ‖b‖₁ = dαλ/2 (exact)")
    ax2.axhline(rms_late, color="k", lw=1.2, label=f"RMSProp closed form, late mean {rms_late:.3g} ≈ dα/2")
    ax2.plot(x, measured, "s", color="C3", ms=5, mfc="none", label="torch.optim.RMSprop (ε=0), late mean")
    ax2.axvline(1, color="0.5", ls=":", lw=1)
    ax2.text(0.25, 0.04, "λ < 1: NDGM\nends sparser", transform=ax2.transAxes, ha="center", fontsize=8.5)
    ax2.text(0.75, 0.04, "λ > 1: RMSProp\nends sparser", transform=ax2.transAxes, ha="center", fontsize=8.5)
    ax2.set_xscale("log", base=2)
    ax2.set_yscale("log")
    ax2.set_xlabel("penalty λ")
    ax2.set_ylabel(f"late ‖b‖₁ (mean of the last {window} steps)")
    figs = _numbers(report.figures("T12").get("late l1 / (d alpha/2), RMSProp", []))
    ax2.set_title("T12 [CUT] Prop B.11, Fig. 6: phase transition at λ = 1"
                  + (f"\nreport: late RMSProp l1/(dα/2) ≤ {max(figs):.3g} over subjects" if figs else ""))
    ax2.legend(fontsize=7.5, loc="upper left")
    return _save(fig, out / "t12_rmsprop_ndgm.png", report, dpi)


# ----------------------------------------------------------------------------- T13
def plot_t13_huber(report: Report, out: Path, dpi: int) -> Path | None:
    """[CUT] Prop 5.1, eq. (10), Fig. 4: above 2/lambda_max Huber is bounded, least squares diverges."""
    import torch
    import torch.nn.functional as F

    from kinkcheck.harness.oracles.nonsmooth import huber_orbit

    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.4), layout="constrained")
    gen = torch.Generator().manual_seed(13)
    n, d, delta = 4, 8, 0.5
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    ws = torch.randn(d, generator=gen, dtype=torch.float64)
    y = X @ ws
    lam_max = float(torch.linalg.eigvalsh(X.T @ X).max())
    x0 = ws + torch.randn(d, generator=gen, dtype=torch.float64)
    Q = torch.linalg.qr(X.T).Q
    steps = 40
    G = delta * float(X.norm(dim=1).sum())  # Lipschitz constant of the Huber objective
    sv = torch.linalg.svdvals(X)
    sigma_min = float(sv[sv > 1e-12 * sv.max()].min())
    for i, c in enumerate((2.0, 4.0, 8.0)):
        a = c * 2 / lam_max
        R = (a * G ** 2 / (2 * delta) + n * delta / 2) / sigma_min
        limit = max(float((Q.T @ (x0 - ws)).norm()), R + a * G)
        ax.axhline(limit, color=f"C{i}", ls=":", lw=1, label=f"Huber bound, c={c:g}")
        for name, loss, ls in (("Huber", lambda p: F.huber_loss(X @ p, y, delta=delta, reduction="sum"), "-"),
                               ("least squares", lambda p: 0.5 * ((X @ p - y) ** 2).sum(), "--")):
            p = x0.clone().requires_grad_(True)
            dist = [float((Q.T @ (p.detach() - ws)).norm())]
            for _ in range(steps):
                g, = torch.autograd.grad(loss(p), p)
                with torch.no_grad():
                    p -= a * g
                dist.append(float((Q.T @ (p.detach() - ws)).norm()))
            ax.plot(dist, ls, color=f"C{i}", lw=1.3, label=f"{name}, c={c:g}")
    ax.set_yscale("log")
    ax.set_xlabel("step k")
    ax.set_ylabel("‖P(x_k − w*)‖ (row space of X)")
    figs = report.figures("T13")
    rate = _numbers(figs.get("least squares growth rate per step", []))
    bound = _numbers(figs.get("Huber max ||P e_k|| / bound", []))
    note = []
    if rate:
        note.append(f"LS growth ≥ {min(rate):.3g}×/step")
    if bound:
        note.append(f"Huber max/bound ≤ {max(bound):.3g}")
    ax.set_title("T13 [CUT] Prop 5.1: gradient descent with α = c·2/λ_max (n=4, d=8, δ=1/2)"
                 + ("\nreport: " + "; ".join(note) if note else ""))
    ax.legend(fontsize=7, ncol=3, loc="upper left")

    for eta, colour in ((Fraction(3), "C3"), (Fraction(3, 2), "C0"), (Fraction(1, 2), "C2")):
        orbit = huber_orbit(Fraction(5), Fraction(1), eta, 30)
        ax2.plot([float(v) for v in orbit], "o-", ms=3, color=colour,
                 label=f"η = {eta}" + (" > 2/sharpness: 2-cycle (2, −1)" if eta > 2 else " < 2: converges"))
    ax2.axhspan(-1, 1, color="0.9", zorder=0, label="quadratic zone |x| ≤ δ = 1")
    ax2.set_xlabel("step k")
    ax2.set_ylabel("x_k")
    ax2.set_title("T13 [CUT] eq. (10), Fig. 4: 1-D Huber, x₀ = 5 (exact orbits)")
    ax2.legend(fontsize=7.5)
    return _save(fig, out / "t13_huber.png", report, dpi)


PLOTS = {"conformance": plot_conformance, "t5_width": plot_t5_width, "t6_depth": plot_t6_depth,
         "t10_ndgm": plot_t10_ndgm, "t12_rmsprop_ndgm": plot_t12_rmsprop, "t13_huber": plot_t13_huber}


def write_all(report: Report, out, *, only=None, dpi: int = 110) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fn in PLOTS.items():
        if only and name not in only:
            continue
        path = fn(report, out, dpi)
        if path is not None:
            written.append(path)
    return written


def run(args) -> int:
    if args.merge:
        from kinkcheck.merge import run as merge

        return merge(args)
    if not (args.json and args.out):
        print("kinkcheck report: give --json PATH --out DIR (plots) or --merge SHARD.json ...", file=sys.stderr)
        return 2
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print('kinkcheck report: matplotlib is needed: pip install "kinkcheck[plot]"', file=sys.stderr)
        return 2
    try:
        report = Report.load(args.json)
    except (OSError, ValueError) as exc:
        print(f"kinkcheck report: cannot read {args.json}: {exc}", file=sys.stderr)
        return 2
    only = None
    if args.only:
        only = {s.strip() for s in args.only.split(",") if s.strip()}
        unknown = only - set(PLOTS)
        if unknown:
            print(f"kinkcheck report: unknown plot(s) {sorted(unknown)}; choose from {', '.join(PLOTS)}",
                  file=sys.stderr)
            return 2
    for path in write_all(report, args.out, only=only, dpi=args.dpi):
        print(path)
    return 0
