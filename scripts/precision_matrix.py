#!/usr/bin/env python
"""Run the gate on every torch.optim family in every low-precision dtype (issue #15's matrix) and
print a Markdown table: one row per family, one column per dtype, each cell the run's verdict
(pass, or the theorems that FAIL / ERROR, with the expected deviations it carried) and its time.

    python scripts/precision_matrix.py [--dtypes float32,float16,bfloat16] [--families adam,sgd]
                                       [--profile kinkcheck-ci] [--workers 2] [--out matrix.md]
                                       [--keep DIR]   # keep each run's --kinkcheck-report-json

Each cell is the command a user runs, ``pytest theorems/ --dtype D --optimizer F=torch.optim:C``,
on the for-loop path (``?foreach=False`` where the class takes it), with
``--xfails-file docs/torch-deviations/expectations.txt``: deviations of torch itself that were
diagnosed from its source are carried there, one line each.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPECTATIONS = ROOT / "docs" / "torch-deviations" / "expectations.txt"


def torch_families() -> list[tuple[str, str]]:
    sys.path.insert(0, str(ROOT))
    from kinkcheck.harness.subjects.families import FAMILIES

    import inspect

    import torch

    out = []
    for name, f in FAMILIES.items():
        cls = getattr(torch.optim, f.torch_class or "", None)
        if cls is None:
            continue
        forloop = "?foreach=False" if "foreach" in inspect.signature(cls).parameters else ""
        out.append((name, f"{f.torch_class}{forloop}"))
    return out


def run_cell(family: str, cls: str, dtype: str, *, profile: str, workers: int, json_path: Path) -> dict:
    return run_subjects([(family, cls)], dtype, profile=profile, workers=workers, json_path=json_path)[0]


def run_subjects(families: list[tuple[str, str]], dtype: str, *, profile: str, workers: int,
                 json_path: Path) -> list[dict]:
    """One pytest run with every family in ``families`` as a subject (one row each); a result per family."""
    specs = [a for family, cls in families for a in ("--kinkcheck-optimizer", f"{family}=torch.optim:{cls}")]
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "theorems"), "-q", "-p", "no:cacheprovider",
           "--hypothesis-profile", profile, "--kinkcheck-dtype", dtype, *specs,
           "--kinkcheck-xfails-file", str(EXPECTATIONS), "--kinkcheck-report-json", str(json_path)]
    if workers > 1:
        cmd += ["-n", str(workers)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    payload = json.loads(json_path.read_text()) if json_path.exists() else {"cells": [], "tests": []}
    results = []
    for family, cls in families:
        label = f"{family}=torch.optim:{cls}"
        by_outcome: dict[str, list[str]] = {}
        for cell in payload["cells"]:
            if cell["subject"] == label:
                by_outcome.setdefault(cell["outcome"], []).append(cell["theorem"])
        own = sum(float(t.get("seconds") or 0) for t in payload["tests"] if t["subject"] == label)
        failed = any(k in by_outcome for k in ("failed", "error"))
        rc = proc.returncode if len(families) == 1 or not payload["cells"] else int(failed)
        results.append({"family": family, "dtype": dtype, "rc": rc, "seconds": seconds if len(families) == 1 else own,
                        "outcomes": by_outcome, "output": proc.stdout + proc.stderr, "run_rc": proc.returncode,
                        "run_seconds": seconds})
    return results


def cell_text(result: dict) -> str:
    o = result["outcomes"]
    bad = [f"{k} {','.join(sorted(o[k]))}" for k in ("failed", "error") if o.get(k)]
    if not o:
        bad = [f"no cells (run rc {result.get('run_rc', result['rc'])})"]
    elif result["rc"] != 0 and not bad:
        bad = [f"rc {result['rc']}"]
    verdict = "; ".join(bad) if bad else "pass"
    labels = {"xfail": "xfail", "xpass": "xpass (expected deviation not hit)", "measured": "measured"}
    extra = [f"{labels[k]} {','.join(sorted(o[k]))}" for k in labels if o.get(k)]
    return f"{verdict}{' (' + '; '.join(extra) + ')' if extra else ''}, {result['seconds']:.0f} s"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dtypes", default="float32,float16,bfloat16")
    p.add_argument("--families", default=None, help="comma-separated family names (default: every torch.optim one)")
    p.add_argument("--profile", default="kinkcheck-ci")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default=None)
    p.add_argument("--keep", default=None, help="folder to keep each run's JSON report and output in")
    p.add_argument("--together", action="store_true",
                   help="one run per dtype with every family as a subject (cell times: the family's own tests)")
    args = p.parse_args(argv)
    dtypes = args.dtypes.split(",")
    families = torch_families()
    if args.families:
        wanted = set(args.families.split(","))
        unknown = wanted - {f for f, _ in families}
        if unknown:
            p.error(f"not a torch.optim family: {sorted(unknown)}")
        families = [(f, c) for f, c in families if f in wanted]
    keep = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="kinkcheck-matrix-"))
    keep.mkdir(parents=True, exist_ok=True)
    results: dict[tuple[str, str], dict] = {}
    total, failed = 0.0, 0
    if args.together:
        for dtype in dtypes:
            batch = run_subjects(families, dtype, profile=args.profile, workers=args.workers,
                                 json_path=keep / f"all-{dtype}.json")
            (keep / f"all-{dtype}.txt").write_text(batch[0]["output"])
            total += batch[0]["run_seconds"]
            failed += batch[0]["run_rc"] != 0
            print(f"{dtype:9s} one run of {len(families)} subjects: rc={batch[0]['run_rc']}, "
                  f"{batch[0]['run_seconds']:.0f} s", flush=True)
            results.update({(r["family"], dtype): r for r in batch})
    else:
        for family, cls in families:
            for dtype in dtypes:
                r = run_cell(family, cls, dtype, profile=args.profile, workers=args.workers,
                             json_path=keep / f"{family}-{dtype}.json")
                (keep / f"{family}-{dtype}.txt").write_text(r["output"])
                total += r["seconds"]
                failed += r["rc"] != 0
                results[family, dtype] = r
                print(f"{family:10s} {dtype:9s} rc={r['rc']} {cell_text(r)}", flush=True)
    rows = [f"| {family} | " + " | ".join(cell_text(results[family, d]) for d in dtypes) + " |"
            for family, _ in families]
    table = "\n".join([f"| family | {' | '.join(dtypes)} |", "|---" * (len(dtypes) + 1) + "|", *rows])
    runs = len(dtypes) if args.together else len(families) * len(dtypes)
    together = ", every family in one run per dtype: cell times are its own tests" if args.together else ""
    summary = (f"{runs} runs, {failed} with a non-zero exit, {total:.0f} s in all (profile {args.profile}, "
               f"-n {args.workers}{together}); reports in {keep}")
    text = table + "\n\n" + summary + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
