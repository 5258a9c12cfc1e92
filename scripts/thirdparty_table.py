#!/usr/bin/env python
"""Run the kinkcheck gate on every optimizer of pytorch-optimizer's registry and lion-pytorch,
and print a Markdown table (package versions, counts per verdict, one row per optimizer, and
each real deviation with its counterexample).

    pip install pytorch-optimizer lion-pytorch
    python scripts/thirdparty_table.py [--theorems T3,T2] [--profile kinkcheck-selftest] [--out docs/thirdparty.md]
                                       [--save-json verdicts.json]
    python scripts/thirdparty_table.py --from-json verdicts.json --out docs/thirdparty.md  # re-render only

Failures found with the (fast, non-shrinking) profile are re-run alone with the ``ci`` profile,
so the counterexample printed is Hypothesis's shrunk one. Verdicts: see tests/thirdparty/gate.py.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
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
    "ranger": "by design: gradient centralization subtracts the mean gradient of tensors with more than one "
              "dimension, so an exactly-zero entry becomes nonzero.",
    "ranger21": "by design: gradient centralization and normalization plus adaptive gradient clipping act on "
                "whole tensors (an exactly-zero entry is shifted).",
    "adamp": "by design: the projection removing the radial component of the update couples a tensor's entries.",
    "sgdp": "by design: the same projection as AdamP couples a tensor's entries.",
    "mars": "hidden decay: 1-D parameters go to an AdamW branch with weight_decay_1d = 0.1 by default, a decay "
            "the suite cannot see under the name weight_decay.",
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
    "accsgd": "by design: accelerated SGD keeps an averaged iterate (memory): T2(d)'s memoryless-SGD claim "
              "does not hold for it (the family guess 'sgd' is too strong); the T2 main tests pass.",
    "dadaptsgd": "by design: D-adapted SGD with momentum (memory): T2(d)'s memoryless-SGD claim does not hold.",
    "schedulefreesgd": "by design: schedule-free SGD interpolates with an averaged sequence (memory): T2(d) "
                       "does not hold.",
    "sgdsai": "by design: SGD with per-tensor signal-to-noise scaling and momentum (memory): T2(d) does not hold.",
    "signsgd": "by design: sign SGD with momentum (memory) by default: T2(d)'s memoryless claim does not hold.",
    "vsgd": "by design: variational SGD keeps running moment estimates (memory): T2(d) does not hold.",
    "adai": "undiagnosed NaN at step 1 (its adaptive beta1 divides the second moments by their mean over all "
            "parameters, exp_avg_sq_hat_mean; an all-zero gradient alone gives no NaN, so the cause is not confirmed).",
    "fadam": "bug: momentum_dtype / fim_dtype default to float32 and a linspace mixes them with float64 "
             "parameters: float64 parameters raise.",
    "distributedmuon": "needs an initialised torch.distributed process group (not a single-process optimizer).",
    "muonclip": "bug (in the spec, not the package): MuonClip forwards nesterov to Muon itself, so the muon "
                "family's drawn nesterov collides; it needs family generic with matrix_flag.",
}

ORDER = ["FAIL", "raises", "failed (other)", "vacuous", "timeout", "oos", "oos (protocol)", "pass", "n/a"]
WITH_VERDICT = {"FAIL", "raises", "oos", "oos (protocol)", "pass"}  # raises: the property failed with its error


def markdown(verdicts: list[gate.Verdict], theorems: list[str], meta: dict) -> str:
    v = meta["versions"]
    lines = [
        "# kinkcheck on third-party optimizers",
        "",
        f"Generated by `python scripts/thirdparty_table.py` ({meta['when']}, {meta['seconds']:.0f} s wall, "
        f"Hypothesis profile `{meta['profile']}`, theorems {', '.join(theorems)}).",
        "",
        f"Versions: pytorch-optimizer {v['pytorch-optimizer']}, lion-pytorch {v['lion-pytorch']}, "
        f"torch {v['torch']}, kinkcheck {v['kinkcheck']}, hypothesis {v['hypothesis']}.",
        "",
        "Each optimizer is run as `pytest --pyargs kinkcheck.theorems.<module> --optimizer "
        "FAMILY=module:attr[?name=value&...]`. FAMILY is chosen from the constructor: `adam` when it takes lr, "
        "a 2-tuple betas, eps and weight_decay (the suite then passes weight_decay=0 and adam hyperparameters), "
        "`sgd` for SGD variants taking weight_decay, `generic` otherwise (only lr is passed, so the package's own "
        "defaults apply). torch.optim classes in the registry are left out (they are the built-in subjects).",
        "",
        "Driving (kinkcheck.harness.core.training): every optimizer whose `step` accepts a closure gets one that "
        "recomputes the loss and gradients (sharpness-aware, line-search and Polyak-step methods); optimizers "
        "with a `hessian` argument to `step` (AdaHessian, SophiaH) or a `create_graph` attribute get "
        "`backward(create_graph=True)`; when no parameter moved in the drawn number of steps although the "
        "gradients were nonzero, the horizon is extended up to HORIZON_CAP = 64 steps (warm-up, rectification, "
        "D-adaptation, a gradient queue). What a user would write in the spec (tests/thirdparty/gate.py DRIVING):",
        "",
    ]
    lines += [f"- {name}: `{fam or 'auto'}` family, `?{fixed}` — {why}" if fixed else
              f"- {name}: `{fam}` family — {why}" for name, (fam, fixed, why) in sorted(gate.DRIVING.items())]
    lines += [
        "",
        "Verdicts: **pass** (`+oos`: decay configurations also run and reported out of scope); **oos**: the "
        "optimizer's default weight decay > 0 (read from its param_groups) puts it outside [GM] Setting 4.1 "
        "eq. (58) — reported, not failed; **oos (protocol)**: not a torch.optim-protocol optimizer over "
        "arbitrary tensors (it takes a model, LoRA factor pairs, or needs a missing package), confirmed by the "
        "run raising; **FAIL**: with no decay a coordinate whose every gradient is exactly 0 moved (T3), or an "
        "inactive neuron's incoming parameters moved (T2) — a deviation from [GM] Lemmas 4.8–4.9; **raises**: "
        "the property failed with the optimizer's own exception or NaN/Inf; **vacuous**: a non-vacuity check "
        "failed (`cap:` it moved nothing within HORIZON_CAP steps); **n/a**: no test of the theorem applies to "
        "the family (Muon-style optimizers take 2-D parameters; T2's batched networks are 3-D).",
        "",
    ]
    for theorem in theorems:
        vs = [x for x in verdicts if x.theorem == theorem]
        counts = Counter(x.status for x in vs)
        with_verdict = sum(counts[s] for s in WITH_VERDICT)
        lines += [f"## {theorem}", "",
                  f"{len(vs)} optimizers: " + ", ".join(f"{counts[s]} {s}" for s in ORDER if counts[s]) + ". "
                  f"With a verdict (pass, FAIL, raises, oos, oos (protocol)): {with_verdict}/{len(vs)} = "
                  f"{100 * with_verdict / max(1, len(vs)):.1f}%.", "",
                  "| optimizer | package | subject | default weight_decay | verdict | cases | detail |",
                  "|---|---|---|---|---|---|---|"]
        for x in sorted(vs, key=lambda x: (ORDER.index(x.status) if x.status in ORDER else 99, x.candidate.name)):
            c = x.candidate
            detail = x.detail.splitlines()[0] if x.detail else ""
            if x.status in ("FAIL", "raises"):
                detail = NOTES.get(c.name, "see below")
            detail = detail.replace("|", "\\|")[:220]
            decay = c.default_decay if c.default_decay is not None else "–"
            lines.append(f"| {c.name} | {c.package} | `{c.spec}` | {decay} | {x.status} | {x.cases} | {detail} |")
        fails = [x for x in vs if x.status in ("FAIL", "raises")]
        if fails:
            lines += ["", f"### Deviations and errors ({theorem}, decay 0), diagnosed from the source", ""]
            for x in fails:
                note = NOTES.get(x.candidate.name, "not diagnosed")
                lines += [f"#### {x.candidate.name} (`{x.candidate.spec}`)", "", f"Cause: {note}", "",
                          "```", x.detail, "```", ""]
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--theorems", default="T3", help="comma-separated subset of " + ", ".join(gate.MODULES))
    ap.add_argument("--profile", default="kinkcheck-selftest",
                    help="Hypothesis profile of the sweep (default kinkcheck-selftest)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, default=0, help="pytest-xdist workers per run (-n)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per run before it is split")
    ap.add_argument("--only", default=None, help="comma-separated registry names (default: all)")
    ap.add_argument("--out", default=None, help="also write the Markdown here")
    ap.add_argument("--save-json", default=None, help="also save the verdicts (to re-render with --from-json)")
    ap.add_argument("--from-json", default=None, help="render saved verdicts instead of running")
    args = ap.parse_args(argv)
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        verdicts = [gate.refine(gate.Verdict(gate.Candidate(**v.pop("candidate")), **v)) for v in saved["verdicts"]]
        return _emit(markdown(verdicts, saved["theorems"], saved["meta"]), args.out)
    if not gate.packages_available():
        print("pip install pytorch-optimizer lion-pytorch first", file=sys.stderr)
        return 2
    theorems = [t.strip() for t in args.theorems.split(",") if t.strip()]
    cands = gate.candidates()
    if args.only:
        wanted = {n.strip() for n in args.only.split(",")}
        cands = [c for c in cands if c.name in wanted]
    start = time.time()
    verdicts = []
    for theorem in theorems:
        found = gate.run_all(cands, theorem, batch_size=args.batch_size, profile=args.profile,
                             timeout=args.timeout, workers=args.workers)
        for i, v in enumerate(found):  # shrink every real deviation with the ci profile, alone
            if v.status == "FAIL" and args.profile != "kinkcheck-ci":
                again = gate.run_batch([v.candidate], theorem, profile="kinkcheck-ci", timeout=args.timeout)[0]
                if again.status == "FAIL":
                    found[i] = again
        verdicts += found
        print(f"{theorem}: " + ", ".join(f"{n} {s}" for s, n in Counter(v.status for v in found).items()),
              file=sys.stderr)
    meta = {"versions": gate.versions(), "seconds": time.time() - start, "profile": args.profile,
            "when": time.strftime("%Y-%m-%d")}
    if args.save_json:
        Path(args.save_json).write_text(json.dumps({"theorems": theorems, "meta": meta,
                                                    "verdicts": [dataclasses.asdict(v) for v in verdicts]}))
    return _emit(markdown(verdicts, theorems, meta), args.out)


def _emit(text: str, out: str | None) -> int:
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
