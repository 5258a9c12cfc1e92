#!/usr/bin/env python
"""Run the kinkcheck gate on every optimizer of pytorch-optimizer's registry, lion-pytorch and timm.optim,
and print a Markdown table (package versions, counts per verdict, one row per optimizer, and
each real deviation with its counterexample).

    pip install pytorch-optimizer==4.1.0 lion-pytorch==0.2.5
    pip install --no-deps timm==1.0.31 && pip install pyyaml huggingface_hub safetensors  # never torchvision
    python scripts/thirdparty_table.py [--theorems T3,T2] [--profile kinkcheck-ci] [--packages timm]
                                       [--out docs/thirdparty.md] [--save-json verdicts.json]
    python scripts/thirdparty_table.py --from-json a.json,b.json --out docs/thirdparty.md  # re-render (merge) only

timm is imported without torchvision through tests/thirdparty/timm_import.py (see there).

Failures found with the (fast, non-shrinking) profile are re-run alone with the ``ci`` profile,
so the counterexample printed is Hypothesis's shrunk one. Verdicts: see tests/thirdparty/gate.py.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.thirdparty import gate  # noqa: E402

# causes diagnosed by hand (pytorch-optimizer 4.1.0 source) for the deviations and errors the sweep found;
# "by design": the algorithm as published is not coordinate-wise or not from zero state; "bug": unintended
NOTES = {
    "yogi": "by design: both moments start at initial_accumulator = 1e-6, not 0 (not the zero state of [GM] Lemma "
            "4.9), so a zero-gradient coordinate steps by lr*m/(sqrt(v)+eps).",
    "ranger21": "by design: gradient centralization and normalization plus adaptive gradient clipping act on "
                "whole tensors (an exactly-zero entry is shifted).",
    "adamp": "by design: the projection removing the radial component of the update couples a tensor's entries.",
    "sgdp": "by design: the same projection as AdamP couples a tensor's entries.",
    "mars": "(run 5, weight_decay_1d=0.0: passes) 1-D parameters go to an AdamW branch with its own decay "
            "weight_decay_1d = 0.1 by default, outside T3's hypothesis under another name.",
    "ftrl": "by design: FTRL-proximal sets each weight from its accumulators, so a zero-gradient weight is moved "
            "to the proximal point (0) at the first step.",
    "nero": "by design: per-neuron projection (zero mean, fixed norm) re-sets whole rows; a zero-gradient "
            "entry is moved (to 0 here).",
    "fromage": "by design: the update is rescaled by the layer's norm ratio / sqrt(1 + lr^2): every entry of a "
               "tensor shrinks, zero gradient or not.",
    "gravity": "by design: the velocity v starts random (normal, std alpha/lr), not 0, so a zero-gradient "
               "coordinate moves by lr*v.",
    "srmm": "by design: the parameter is reset to a moving average of parameters initialised at 0 "
            "(mov_avg_param = 0), pulling every coordinate toward 0.",
    "focus": "by design: the attraction term gamma*sign(p - pbar) moves every coordinate toward the parameter "
             "average, whatever its gradient.",
    "amos": "by design: Amos decays weights toward a target scale (its own decay, not named weight_decay).",
    "alice": "by design: a low-rank subspace projection (eigen-decomposition of the gradient covariance) couples "
             "the entries of a matrix.",
    "conda": "by design: 2-D parameters are updated in a projected (SVD) subspace, coupling a matrix's entries.",
    "dash": "by design: the update normalises blocks of a reshaped matrix, coupling entries within a block.",
    "kron": "by design: Kronecker-factored (PSGD) preconditioner couples the entries of a tensor.",
    "shampoo": "by design: Kronecker-factored preconditioner (L^-1/4 G R^-1/4) couples the entries of a tensor.",
    "scion": "by design: layer-wise norm-constrained (spectral / sign) update couples a tensor's entries.",
    "scionlight": "by design: as SCION, a layer-wise norm-constrained update.",
    "soap": "by design: Adam run in Shampoo's eigenbasis: the rotation couples a matrix's entries.",
    "splus": "by design: for 2-D parameters the sign update is taken in the eigenbasis of Shampoo-style factors, "
             "coupling a matrix's entries.",
    "spectralsphere": "by design: the update is projected onto a spectral-norm sphere (power iteration, matrix "
                      "sign), moving zero rows/columns too.",
    "adai": "library bug: beta1 = (1 - beta0 (v_hat/mean)^...).clamp(0, 1 - eps) is 1 - eps at a zero-gradient "
            "coordinate, which float32 rounds to 1.0 for eps < 2^-24 (the adam family's eps = 1e-8), so the bias "
            "correction 1 - prod(beta1) is 0 and the update 0/0 = NaN (Adai's default eps = 1e-3 avoids it). "
            "docs/thirdparty-bugs/pytorch_optimizer_Adai_float32_zero_gradient_nan.py",
    "avagrad": "run 7 (vacuous) was kinkcheck's: AvaGrad scales every step by one global gamma = (mean_i "
               "d_i^-2)^(-1/2), d_i = sqrt(v_i)/sqrt(1 - beta2^t) + eps; a coordinate whose gradient is always 0 "
               "(T3 plants one in every case) keeps d_i = eps and dominates the mean, so gamma ~ eps sqrt(n/n0) and "
               "the live steps (~5e-10) round away in float32. Run 10: the float32 case is replayed in float64, "
               "where it moves and the frozen coordinates hold: pass.",
    "ranger": "T3 by design: gradient centralization subtracts the mean gradient of tensors with more than one "
              "dimension, so an exactly-zero entry becomes nonzero. T2 passes (run 10): its RAdam skips the update "
              "while rho_t <= 4 (never with the adam family's beta2 = 0.5), and such a case is counted, not judged.",
    "fadam": "library bug: momentum_dtype / fim_dtype default to float32 whatever the parameter's dtype, and "
             "torch._foreach_lerp_(momenta, updates) (fadam.py) mixes them with float64 tensors: float64 parameters "
             "raise. docs/thirdparty-bugs/pytorch_optimizer_FAdam_float64_raises.py",
    "distributedmuon": "needs an initialised torch.distributed process group (not a single-process optimizer).",
    "muonclip": "by design (T3): with family generic every zero-gradient entry of a matrix is checked, and Muon's "
                "Newton-Schulz orthogonalisation couples a matrix's entries (it keeps zero rows and columns, the "
                "muon family's claim, which cannot be run: MuonClip forwards nesterov to Muon itself, so the family's "
                "drawn nesterov collides).",
    # timm 1.0.31 (timm/optim/*.py)
    "timm:AdamP": "by design: as pytorch-optimizer's AdamP, the projection removing the radial component of the "
                  "update (timm/optim/adamp.py projection()) couples a tensor's entries.",
    "timm:Kron": "by design: as pytorch-optimizer's Kron, the PSGD Kronecker-factored preconditioner "
                 "(timm/optim/kron.py, Q_L G Q_R) couples the entries of a tensor.",
    "timm:SGDP": "by design: the same projection as AdamP (timm/optim/sgdp.py) couples a tensor's entries.",
    "timm:MADGRAD": "library bug (numerical): with momentum (default 0.9) p.mul_(1 - ck).add_(z, alpha=ck) with z == p "
                    "(s = 0) rounds, so a zero-gradient coordinate drifts in float32/float16/bfloat16; p.lerp_(z, ck) "
                    "would keep it. docs/thirdparty-bugs/timm_MADGRAD_frozen_coordinates_drift.py",
    "timm:RAdamLegacy": "library bug: step() computes in p_fp32 = p.float() and writes p.copy_(p_fp32) for every "
                        "dtype, so float64 parameters (zero-gradient coordinates included) are rounded to float32 at "
                        "every step. docs/thirdparty-bugs/timm_RAdamLegacy_float64_downcast.py",
}

# theorem-specific causes where NOTES (written for T3) does not say what moved under T2
NOTES_T2 = {
    "ranger21": "by design (not isolated): with an all-zero gradient below a dead layer one entry moved by 5e-15; "
                "gradient centralization keeps a zero row zero, so the mover is another of its whole-tensor terms "
                "(normalization, norm loss, adaptive clipping). Reproduced on a real 2-D layer "
                "(tests/thirdparty/t2_layout_check.py).",
}

# T2 FAILs of the runs on T2's old batched layout (runs whose meta has no "t2_layout") that a plain-torch check
# on a real (non-batched) 2-D layer did not reproduce (tests/thirdparty/t2_layout_check.py): T2's networks were
# batches of independent networks stacked in 3-D weights and 2-D biases, so an optimizer that treats a parameter
# as a matrix (orthogonalisation, subspace projection, block normalisation) coupled independent networks and
# treated biases as matrices, which a real layer does not. Listed as kinkcheck's, not the library's. Since T2
# trains every subject not declared coordinatewise on real layers (T2_LAYOUT), a FAIL of a later run is never
# reclassified.
T2_LAYOUT = "declared"  # the meta of a run made with T2's declared layouts (real layers unless coordinatewise)
KINKCHECK_MADE = {
    (name, "T2"): "kinkcheck's layout (suspected): the T2 deviation was found on T2's batched 3-D weights / 2-D "
                  "biases; on a real 2-D layer (tests/thirdparty/t2_layout_check.py, float64, 10 steps, lr 1e-2) "
                  "the inactive neuron did not move. Not counted as the library's FAIL."
    for name in ("alice", "dash", "scion", "scionlight", "muonclip")
}

# What the sweep showed about kinkcheck itself (not verdicts on the optimizers): measured in the runs named.
KINKCHECK_SIDE = [
    ("timm:Lookahead, run 1 (T3: vacuous)",
     "kinkcheck's driving convention: timm's Lookahead keeps the wrapped optimizer in `_base_optimizer` and the "
     "state in that optimizer's `state`; harness/core/driving.py INNER_ATTRIBUTES (optimizer, base_optimizer, "
     "_optimizer, inner_optimizer) misses it, so T3's non-vacuity check read the wrapper's empty `state` and "
     "reported \"built no optimizer state\". Run 2 used a factory that also exposes the inner optimizer as "
     "`optimizer` (tests/thirdparty/wrappers.py); the fix is `_base_optimizer` in INNER_ATTRIBUTES."),
    ("timm:Adafactor, run 1 (T3: raised)",
     "the sweep's spec: T3's published-defaults test passes the adafactor family's eps = (1e-30, 1e-3) (torch's "
     "pair); timm's Adafactor has a float `eps` of the same name (plus eps_scale), so `grad**2 + eps` raised "
     "TypeError. Run 2 maps it: rename={'beta2_decay': 'decay_rate', 'eps': ('eps', 'eps_scale'), "
     "'d': 'clip_threshold'}. A same-named hyperparameter of another type or meaning reaches the subject and "
     "its error is reported as the subject's \"raised\"."),
    ("timm:Kron, run 1 (spec error)",
     "the sweep's spec: Kron is not re-exported by timm.optim (timm/optim/__init__.py); run 2 names "
     "timm.optim.kron:Kron."),
    ("T2's batched layout: alice, dash, scion, scionlight, muonclip (runs 5-8, T2: FAIL (kinkcheck)); fixed in run 9",
     "T2's networks were batches of independent networks stacked into 3-D weights and 2-D biases. An optimizer that "
     "treats a parameter as a matrix (orthogonalisation, subspace projection, block normalisation) then mixes "
     "independent networks and treats biases as matrices. tests/thirdparty/t2_layout_check.py ran each T2 FAIL "
     "on a real 2-D layer with a dead ReLU neuron (plain torch, float64, 10 steps, lr 1e-2): these five kept the "
     "neuron bit-identical there, so their run-8 FAILs were listed as kinkcheck's. Since then T2 trains every "
     "subject not declared coordinatewise (?coordinatewise=True, or a built-in elementwise family) on one "
     "network's real layers per example (2-D weights, 1-D biases; (out, 1) column biases for family muon without "
     "matrix_flag). Run 9 re-ran T2 for every optimizer that way: dash, scion, scionlight, muonclip pass; alice "
     "FAILs on a real layer too (a real verdict: its subspace projection moved a dead row in a case Hypothesis "
     "found); adamp, amos, splus, which FAILed on the batched layout, pass on real layers within the profile's "
     "examples (AdamP/SGDP's projection moves a dead row only when it dominates the weight's norm: "
     "t2_layout_check.py's second configuration); ranger, vacuous in run 8, passes. No FAIL of run 9 is "
     "reclassified as kinkcheck's."),
    ("D-adaptation and Prodigy, run 4 (T3: vacuous, cap); fixed in run 10",
     "kinkcheck's non-vacuity check: with d0 = 1e-6 the step lr*d0 ~ 1e-10 is below float32's resolution on O(1) "
     "weights, and T3 replayed a case in which nothing moved in float64 only for float16/bfloat16. Run 6 raised d0 "
     "to 0.1 (a spec workaround). T3 now replays float32 cases too and checks the frozen coordinates in the "
     "replay; run 10 runs all six at their published d0 = 1e-6: pass (AvaGrad, vacuous in run 7 for the same "
     "reason, passes too)."),
    ("RAdam (pytorch-optimizer) T3 and Ranger T2, runs 4-5 (vacuous, cap); fixed in run 10",
     "kinkcheck's per-case non-vacuity: rectified Adam skips its update while rho_t <= 4; with the adam family's "
     "drawn beta2 = 0.5, rho_inf = 3, so that configuration never moves, and one such case failed the whole test. "
     "Run 6 mapped radam to generic (its default betas). A case in which the subject moves nothing is now counted "
     "(a figure in the report), not judged, and a test is vacuous only when none of its cases moved "
     "(harness/core/assertions.py case_moved): run 10 runs radam as family adam (?decay_law='none': its decay is "
     "applied only on the steps it takes) and Ranger: both pass T2 and T3 (Ranger's T3 FAIL is by design)."),
    ("timm:Kron, run 2 (T2: FAIL, kind hung); the limit is now a watchdog",
     "kinkcheck's timeout: one T2 test of Kron ran past the default --kinkcheck-timeout 300 s on the 2 shared "
     "cores (no opt_einsum) and the plugin reported the subject as hung. Run 3 used --kinkcheck-timeout 1800: "
     "a real T2 FAIL (by design) in 832 s. The limit is now on one call into the subject (a step that has not "
     "returned for 300 s), not on a test, so a slow optimizer making progress is no longer reported as hung "
     "(not re-run: run 3's verdict stands)."),
    ("decay_law values",
     "kinkcheck's `coupled` law compares with the family's reference recursion, so an optimizer mapped to family "
     "adam for its hyperparameters (the README's rule) but running another recursion with L2 decay would FAIL the "
     "decay test although correct; there is no value for \"a decay the suite does not model\", so the sweep "
     "declares `none` for those (it also skips T2's decay tests). 3 pytorch-optimizer optimizers with "
     "weight_decouple=True use another decoupled law (AdamS, APOLLO, Prodigy): run 4 showed the `decay law` "
     "failure for AdamS and APOLLO under `decoupled`; run 6 declares `none`: pass."),
    ("muonclip (spec), fixed in run 10",
     "a spec could not withhold a drawn hyperparameter: MuonClip forwards nesterov to Muon itself, so family muon "
     "raised TypeError (multiple values for 'nesterov'), and runs 7-9 ran it as generic with the matrix flag. "
     "rename={'nesterov': None} now withholds an optional hyperparameter (the subject's own value is used where "
     "the claim holds for every value): run 10 runs it as family muon, T2 and T3 (Muon's rows/columns claim): pass."),
    ("timm:Muon and pytorch-optimizer's Muon-style optimizers, T2 (n/s (suite) in runs 5-8)",
     "kinkcheck had no T2 test for the muon family (2-D parameters only; T2's networks were batched 3-D). Run 9 "
     "trains them on real layers: adago, adamuon, muon, normuon and timm:Muon pass; spectralsphere was vacuous "
     "(below) and FAILs in run 10."),
    ("spectralsphere and timm:Lion, run 9 (T2: vacuous); fixed in run 10",
     "kinkcheck's per-case non-vacuity: on real layers T2 trains one network per example, and T2(c)'s dead-layer "
     "test failed the whole test when one case moved nothing above the dead layer (spectralsphere on widths "
     "[1, 1, 1, 1]: its 1x1 matrices are projected onto a fixed spectral norm, so a 1x1 parameter cannot move). "
     "With such cases counted, not judged, run 10 gives timm:Lion a pass and spectralsphere a real T2 FAIL (by "
     "design: the projection moved a dead neuron's incoming row, as it moves zero rows in T3)."),
    ("sgdp and timm:SGDP, T2(d) on real layers (run 10)",
     "T2(d)'s death search trained 4096 networks stacked into one tensor for every subject; it now trains 8 real "
     "networks one at a time for a subject not declared coordinatewise (harness/experiments/revival.py). Both "
     "SGDPs still FAIL T2 there and in T2(b) (a dead neuron's weights moved on a real layer): by design, the "
     "projection."),
]

ORDER = ["FAIL", "decay law", "raises", "FAIL (kinkcheck)", "spec error", "failed (other)", "vacuous", "timeout", "oos",
         "oos (protocol)", "n/s", "n/s (suite)", "pass", "n/a"]
# statuses that are a verdict with its reason (raises: the property failed with the subject's own error; n/s
# (suite): the suite has no test of the theorem for the optimizer's parameter shapes, stated as such)
WITH_VERDICT = {"FAIL", "decay law", "raises", "oos", "oos (protocol)", "n/s", "n/s (suite)", "pass"}
LIBRARIES = ("pytorch-optimizer", "timm")  # the measure: the fraction over these two


def _fraction(vs) -> str:
    n = len(vs)
    k = sum(1 for x in vs if x.status in WITH_VERDICT)
    return f"{k}/{n} = {100 * k / max(1, n):.1f}%"


def _counts(vs) -> str:
    counts = Counter(x.status for x in vs)
    return ", ".join(f"{counts[s]} {s}" for s in ORDER if counts[s])


def reclassify(verdicts: list[gate.Verdict], runs: list[dict] | None = None) -> list[gate.Verdict]:
    """FAILs listed in KINKCHECK_MADE, from a run on T2's old batched layout (its meta has no "t2_layout"),
    become "FAIL (kinkcheck)": no verdict on the optimizer."""
    out = []
    for v in verdicts:
        why = KINKCHECK_MADE.get((v.candidate.name, v.theorem))
        meta = runs[getattr(v, "run", 1) - 1] if runs else {}
        if why and v.status == "FAIL" and "t2_layout" not in meta:
            v = dataclasses.replace(v, status="FAIL (kinkcheck)", detail=why + "\n" + v.detail)
        out.append(v)
    return out


def markdown(verdicts: list[gate.Verdict], theorems: list[str], runs: list[dict],
             earlier: dict | None = None) -> str:
    """``earlier``: (optimizer, theorem) -> status merged from the runs no row comes from (None: not known)."""
    verdicts = reclassify(verdicts, runs)
    lines = ["# kinkcheck on third-party optimizers", ""]
    lines += ["Generated by `python scripts/thirdparty_table.py` from these runs (each row of the tables below "
              "names its run; a later run's verdict replaces an earlier one for the same optimizer and theorem). "
              "The saved runs are in tests/thirdparty/runs/; re-render with `python scripts/thirdparty_table.py "
              f"--from-json <the {len(runs)} files, in run order> --out docs/thirdparty.md`. The command for a "
              "full sweep in one run is `python scripts/thirdparty_table.py --theorems T3,T2 --profile kinkcheck-ci "
              "--timeout 1500 --pytest-args '--kinkcheck-timeout 1800' --out docs/thirdparty.md`.", ""]
    used = sorted({getattr(x, "run", 1) for x in verdicts})
    whole = [i for i in used if set(runs[i - 1].get("packages", ())) >= {x.candidate.package for x in verdicts}]
    if len(runs) > 1 and used == whole:
        same = earlier is not None and all(earlier.get((x.candidate.name, x.theorem)) == x.status
                                           for x in verdicts)
        lines += [f"Every verdict in the tables below is from run{'s' if len(used) > 1 else ''} "
                  f"{', '.join(map(str, used))} (all packages, final specs). The earlier runs are kept as the "
                  "evidence of the findings in \"What the sweep showed about kinkcheck itself\"" + (
                      "; merged (later runs replacing earlier verdicts), they give the same verdict for every "
                      "optimizer and theorem" if same else "") + ".", ""]
    elif len(runs) > 1:
        lines += ["The sweep was not run in one piece: the runs split it by package and theorem, and later runs "
                  "re-ran the optimizers whose spec was corrected; each row names its run.", ""]
    lines += [
              "| run | packages | date | wall time | Hypothesis profile | theorems | versions |",
              "|---|---|---|---|---|---|---|"]
    for i, meta in enumerate(runs, 1):
        v = meta["versions"]
        pkgs = meta.get("packages", ["pytorch-optimizer", "lion-pytorch"])
        vers = ", ".join(f"{d} {v[d]}" for d in (*pkgs, "torch", "kinkcheck", "hypothesis") if d in v)
        if "timm" in pkgs and "timm import" in v:
            vers += f", torchvision {v.get('torchvision', '?')} (timm imported: {v['timm import']})"
        lines.append(f"| {i} | {', '.join(pkgs)} | {meta['when']} | {meta['seconds']:.0f} s | `{meta['profile']}` | "
                     f"{', '.join(meta.get('theorems', theorems))} | {vers} |")
    lines += [
        "",
        "Each optimizer is run as `pytest --pyargs kinkcheck.theorems.<module> --optimizer "
        "FAMILY=module:attr[?name=value&...]` (several per pytest process), on 2 shared CPU cores under "
        "`nice -n 15`, OMP_NUM_THREADS=1, no xdist. The family is chosen from the constructor: `adam` when it takes "
        "lr, a 2-tuple betas, eps and weight_decay (the suite then passes weight_decay=0 and drawn adam "
        "hyperparameters), `sgd` for memoryless SGD variants taking weight_decay, another family where the "
        "optimizer is one (timm's `Lion`, `Muon`, `RMSpropTF`, ...), `generic` otherwise (only lr is passed, so the "
        "package's own defaults apply). torch.optim classes in pytorch-optimizer's registry and the torch classes "
        "timm re-exports are left out (they are the built-in subjects).",
        "",
        "Decay law (`?decay_law=`, checked by T3's and T2's decay tests): read from the optimizer's source. "
        "pytorch-optimizer: `decoupled` when the constructor's `weight_decouple` defaults to True and `fixed_decay` "
        "to False (its `apply_weight_decay` then multiplies p by 1 - lr*weight_decay), else `none`; timm: per class "
        "(tests/thirdparty/gate.py TIMM, with the line of source). `none` is declared for a decay the suite has "
        "no law for (coupled L2 inside a recursion other than the family's reference, a trust ratio, a proximal "
        "division, a relative step): such a configuration is still run and reported out of scope with its "
        "displacement, but not compared with a law.",
        "",
        "timm without torchvision: `import timm.optim` executes `timm/__init__.py`, which imports `timm.layers` and "
        "`timm.models` and through them torchvision (`torchvision.ops.misc.FrozenBatchNorm2d`) and PIL; PyPI's "
        "torchvision does not import beside this torch. timm was installed with `pip install --no-deps "
        "timm==1.0.31` plus pyyaml, huggingface_hub and safetensors, and the runs load it through the pytest "
        "plugin `-p tests.thirdparty.timm_import`: when `import timm.optim` fails for want of torchvision or PIL, "
        "`timm` is registered as a bare package (its `__init__.py` not run) and `timm.models` as a placeholder "
        "whose `group_parameters` (used only by `param_groups_layer_decay` on a timm model) raises; every "
        "`timm/optim/*.py` module is imported unchanged. The timm classes are every torch.optim.Optimizer subclass "
        "defined in a `timm.optim` submodule.",
        "",
        "Driving (kinkcheck.harness.core.training, driving.py): a closure for optimizers whose `step` takes one; "
        "`backward(create_graph=True)` for Hessian-vector optimizers (a `hessian` argument to `step`, a "
        "`create_graph` attribute, or a truthy `is_second_order`); the horizon grows up to HORIZON_CAP = 64 steps "
        "when nothing moved (warm-up, rectification, D-adaptation); wrapped optimizers' state is read through "
        "their inner optimizer; train()/eval() optimizers are put in train mode. What a user would write in the "
        "spec:",
        "",
    ]
    lines += [f"- {name}: `{fam or 'auto'}` family, `?{fixed}` — {why}" if fixed else
              f"- {name}: `{fam}` family — {why}" for name, (fam, fixed, why) in sorted(gate.DRIVING.items())]
    lines += [f"- timm:{name}: `{fam}` family" + (f", `?{opts}`" if opts else "") + f" — {why}"
              for name, (fam, opts, why) in sorted(gate.TIMM.items())]
    lines += [
        "",
        "Verdicts: **pass** (`+oos`: decay configurations also run and reported out of scope); **oos**: the "
        "optimizer's default weight decay > 0 (read from its param_groups) puts it outside [GM] Setting 4.1 "
        "eq. (58) — reported, not failed; **oos (protocol)**: not a torch.optim-protocol optimizer over "
        "arbitrary tensors (it takes a model, LoRA factor pairs, or needs a missing package), confirmed by the "
        "run raising; **FAIL**: with no decay a coordinate whose every gradient is exactly 0 moved (T3), or an "
        "inactive neuron's incoming parameters moved (T2) — a deviation from [GM] Lemmas 4.8–4.9; **decay law**: "
        "a decay configuration (outside the hypothesis) whose zero-gradient coordinates do not follow the "
        "declared law; **raises**: the property failed with the optimizer's own exception or NaN/Inf; **n/s**: "
        "the theorem's main test was not run because the constructor lacks a hyperparameter it needs; "
        "**n/s (suite)**: kinkcheck has no test of the theorem for this optimizer's parameter shapes (Muon-style "
        "optimizers take 2-D parameters; T2's batched networks are 3-D) — a gap of the suite, not a verdict on "
        "the optimizer's behaviour; no verdict: **FAIL (kinkcheck)** (a T2 FAIL that a plain-torch check on a real "
        "2-D layer did not reproduce: kinkcheck's batched layout, listed as kinkcheck's, not the library's), "
        "**vacuous** (a non-vacuity check failed; `cap:` nothing moved "
        "within HORIZON_CAP steps), **spec error** (the sweep's spec is a usage error), **timeout**, "
        "**failed (other)**.",
        "",
        "## What the sweep showed about kinkcheck itself",
        "",
    ]
    lines += [f"- **{what}**: {text}" for what, text in KINKCHECK_SIDE]
    lines += [
        "",
        "## Summary",
        "",
        "| theorem | package | optimizers | verdicts | with a verdict |",
        "|---|---|---|---|---|",
    ]
    for theorem in theorems:
        vs = [x for x in verdicts if x.theorem == theorem]
        for package in sorted({x.candidate.package for x in vs}):
            pv = [x for x in vs if x.candidate.package == package]
            lines.append(f"| {theorem} | {package} | {len(pv)} | {_counts(pv)} | {_fraction(pv)} |")
        both = [x for x in vs if x.candidate.package in LIBRARIES]
        lines.append(f"| {theorem} | pytorch-optimizer + timm | {len(both)} | {_counts(both)} | {_fraction(both)} |")
    lines.append("")
    for theorem in theorems:
        vs = [x for x in verdicts if x.theorem == theorem]
        lines += [f"## {theorem}", "",
                  f"{len(vs)} optimizers: {_counts(vs)}. With a verdict ({', '.join(sorted(WITH_VERDICT))}): "
                  f"{_fraction(vs)}.", "",
                  "| optimizer | package | run | subject | default weight_decay | verdict | cases | detail |",
                  "|---|---|---|---|---|---|---|---|"]
        for x in sorted(vs, key=lambda x: (ORDER.index(x.status) if x.status in ORDER else 99, x.candidate.name)):
            c = x.candidate
            detail = x.detail.splitlines()[0] if x.detail else ""
            if x.status in ("FAIL", "raises", "decay law", "vacuous", "spec error") and c.name in NOTES:
                detail = NOTES_T2.get(c.name, NOTES[c.name]) if theorem == "T2" else NOTES[c.name]
            elif x.status == "FAIL (kinkcheck)":
                detail = KINKCHECK_MADE[(c.name, x.theorem)]
            detail = detail.replace("|", "\\|")[:240]
            decay = c.default_decay if c.default_decay is not None else "–"
            lines.append(f"| {c.name} | {c.package} | {getattr(x, 'run', 1)} | `{c.spec}` | {decay} | {x.status} | "
                         f"{x.cases} | {detail} |")
        fails = [x for x in vs if x.status in ("FAIL", "raises", "decay law", "vacuous", "spec error",
                                               "FAIL (kinkcheck)")]
        if fails:
            lines += ["", f"### Deviations, errors and runs without a verdict ({theorem}), diagnosed from the source",
                      ""]
            for x in fails:
                note = NOTES.get(x.candidate.name, "not diagnosed")
                if theorem == "T2":
                    note = NOTES_T2.get(x.candidate.name, note)
                if x.status == "FAIL (kinkcheck)":
                    note = KINKCHECK_MADE[(x.candidate.name, x.theorem)]
                lines += [f"#### {x.candidate.name} (`{x.candidate.spec}`, {x.status})", "", f"Cause: {note}", "",
                          "```", x.detail, "```", ""]
        lines.append("")
    return "\n".join(lines)


def load(paths: list[str]) -> tuple[list[gate.Verdict], list[str], list[dict]]:
    """Verdicts of saved runs; a later run's verdict replaces an earlier one for the same (optimizer,
    theorem) (a re-run of some optimizers); each verdict remembers its run (1-based)."""
    by_key, theorems, runs = {}, [], []
    for i, path in enumerate(paths, 1):
        saved = json.loads(Path(path).read_text())
        meta = saved["meta"]
        meta.setdefault("theorems", saved["theorems"])
        runs.append(meta)
        theorems += [t for t in saved["theorems"] if t not in theorems]
        for v in saved["verdicts"]:
            v = dict(v)
            verdict = gate.refine(gate.Verdict(gate.Candidate(**v.pop("candidate")), **v))
            verdict.run = i
            by_key[(verdict.candidate.name, verdict.theorem)] = verdict
    return list(by_key.values()), theorems, runs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--theorems", default="T3", help="comma-separated subset of " + ", ".join(gate.MODULES))
    ap.add_argument("--profile", default="kinkcheck-selftest",
                    help="Hypothesis profile of the sweep (default kinkcheck-selftest)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, default=0, help="pytest-xdist workers per run (-n)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per run before it is split")
    ap.add_argument("--only", default=None, help="comma-separated registry names (default: all)")
    ap.add_argument("--packages", default=None,
                    help="comma-separated subset of " + ", ".join(gate.PACKAGES) + " (default: all)")
    ap.add_argument("--pytest-args", default="",
                    help="further arguments for every pytest run, e.g. '--kinkcheck-timeout 1200' (a slow optimizer "
                         "on a loaded machine is otherwise reported as hung)")
    ap.add_argument("--out", default=None, help="also write the Markdown here")
    ap.add_argument("--save-json", default=None, help="also save the verdicts (to re-render with --from-json)")
    ap.add_argument("--from-json", default=None,
                    help="render saved verdicts instead of running: comma-separated files, later runs replace "
                         "earlier verdicts of the same optimizer and theorem")
    args = ap.parse_args(argv)
    if args.from_json:
        paths = [p for p in args.from_json.split(",") if p]
        verdicts, theorems, runs = load(paths)
        used = {x.run for x in verdicts}
        rest = [path for i, path in enumerate(paths, 1) if i not in used]
        earlier = None
        if rest:
            before, _, before_runs = load(rest)
            earlier = {(x.candidate.name, x.theorem): x.status for x in reclassify(before, before_runs)}
        return _emit(markdown(verdicts, theorems, runs, earlier), args.out)
    packages = [p.strip() for p in args.packages.split(",")] if args.packages else list(gate.PACKAGES)
    missing = [p for p in packages if not gate.package_available(p)]
    if missing:
        print(f"not installed (or not importable): {', '.join(missing)}; see docs/thirdparty.md", file=sys.stderr)
        return 2
    theorems = [t.strip() for t in args.theorems.split(",") if t.strip()]
    cands = gate.candidates(packages)
    if args.only:
        wanted = {n.strip() for n in args.only.split(",")}
        cands = [c for c in cands if c.name in wanted]
    start = time.time()
    verdicts = []
    for theorem in theorems:
        found = gate.run_all(cands, theorem, batch_size=args.batch_size, profile=args.profile,
                             timeout=args.timeout, workers=args.workers, extra=tuple(shlex.split(args.pytest_args)))
        for i, v in enumerate(found):  # shrink every real deviation with the ci profile, alone
            if v.status == "FAIL" and args.profile != "kinkcheck-ci":
                again = gate.run_batch([v.candidate], theorem, profile="kinkcheck-ci", timeout=args.timeout)[0]
                if again.status == "FAIL":
                    found[i] = again
        verdicts += found
        print(f"{theorem}: " + ", ".join(f"{n} {s}" for s, n in Counter(v.status for v in found).items()),
              file=sys.stderr)
    meta = {"versions": gate.versions(), "seconds": time.time() - start, "profile": args.profile,
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "packages": packages, "theorems": theorems,
            "only": sorted(c.name for c in cands) if args.only else None, "pytest_args": args.pytest_args,
            "t2_layout": T2_LAYOUT}
    if args.save_json:
        Path(args.save_json).write_text(json.dumps({"theorems": theorems, "meta": meta,
                                                    "verdicts": [dataclasses.asdict(v) for v in verdicts]}))
    return _emit(markdown(verdicts, theorems, [meta]), args.out)


def _emit(text: str, out: str | None) -> int:
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
