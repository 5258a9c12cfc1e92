"""``kinkcheck audit``: the derivative each spelling of ReLU returns at its kink (T1 (c)).

Per spelling, dtype and execution mode (eager autograd, torch.func.grad / vjp / jvp, and
torch.compile with ``--compile``): the derivative at +0.0 and -0.0 (relu6 also at 6) and at NaN,
each marked conforming when both kink derivatives are 0 -- the convention ReLU'(0) = 0 of [GM]
Lemma 4.11 -- stamped with the torch version. ``--expect FILE`` compares against a pinned table
(written by ``--write-expect FILE``) and exits non-zero naming every difference.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from harness.kinks import COMPILE_MODE, DTYPES, MODES, SPELLINGS, Measurement, measure, stamp

FIELDS = ("d_pos", "d_neg", "d_nan", "conforming")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("audit", help="derivative of every ReLU spelling at its kink, per dtype and mode",
                              description=__doc__)
    p.add_argument("--device", default="cpu", help="device to measure on (default: cpu)")
    p.add_argument("--dtypes", default=",".join(DTYPES), help="comma-separated (default: all four)")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {', '.join(MODES)}")
    p.add_argument("--compile", action="store_true", help="also measure under torch.compile (slow)")
    p.add_argument("--json", metavar="PATH", help="write the table as JSON")
    p.add_argument("--md", metavar="PATH", help="write the table as Markdown")
    p.add_argument("--expect", metavar="FILE", help="pinned JSON table: exit 1 on any difference")
    p.add_argument("--write-expect", metavar="FILE", help="write the measured table as a pinned JSON file")
    p.set_defaults(func=run)


def _cell(m: Measurement) -> str:
    if m.d_pos.startswith("error"):
        return m.d_pos
    kink = m.d_pos if m.d_pos == m.d_neg else f"{m.d_pos}/{m.d_neg}"
    return f"{kink}{'' if m.conforming else ' !'}"


def terminal_table(rows: list[Measurement], header: dict) -> str:
    """Grouped by spelling: one line per dtype, one column per mode; '!' marks non-conforming."""
    modes = list(dict.fromkeys(m.mode for m in rows))
    by = {m.key(): m for m in rows}
    spellings = list(dict.fromkeys(m.spelling for m in rows))
    dtypes = list(dict.fromkeys(m.dtype for m in rows))
    w = max(len(s) for s in spellings + ["spelling"])
    lines = [f"kinkcheck audit — torch {header['torch']}, device {header['device']}: derivative at the kink "
             f"(+0/-0 when they differ; '!' = not the convention ReLU'(0) = 0), and at NaN",
             f"{'spelling':{w}}  {'dtype':8}  " + "  ".join(f"{m:11}" for m in modes) + "  NaN (eager)  conforming"]
    lines.append("-" * len(lines[-1]))
    for s in spellings:
        for dt in dtypes:
            cells = [by.get((s, dt, mo)) for mo in modes]
            ok = all(c is not None and c.conforming for c in cells)
            nan = by.get((s, dt, modes[0]))
            lines.append(f"{s:{w}}  {dt:8}  " + "  ".join(f"{_cell(c) if c else 'n/a':11}" for c in cells)
                         + f"  {nan.d_nan if nan else 'n/a':11}  {'yes' if ok else 'NO'}")
        lines.append("")
    bad = list(dict.fromkeys(m.spelling for m in rows if not m.conforming))
    good = [s for s in spellings if s not in bad]
    lines.append(f"conforming in every dtype and mode: {', '.join(good) or 'none'}")
    lines.append(f"not conforming somewhere: {', '.join(bad) or 'none'}")
    mismatch = sorted({f"{m.spelling}[{m.dtype}]" for m in rows if m.mode == "func.jvp"
                       and (by.get((m.spelling, m.dtype, "func.vjp")) is not None)
                       and (m.d_pos, m.d_neg) != (by[(m.spelling, m.dtype, "func.vjp")].d_pos,
                                                   by[(m.spelling, m.dtype, "func.vjp")].d_neg)})
    if mismatch:
        lines.append("forward (jvp) and reverse (vjp) mode disagree at the kink: " + ", ".join(mismatch))
    return "\n".join(lines)


def markdown(rows: list[Measurement], header: dict) -> str:
    modes = list(dict.fromkeys(m.mode for m in rows))
    by = {m.key(): m for m in rows}
    out = [f"ReLU'(kink) per spelling — torch {header['torch']}, device {header['device']} "
           f"(`!` = not the convention ReLU'(0) = 0)", "",
           "| spelling | dtype | " + " | ".join(modes) + " | NaN (eager) |",
           "|---|---|" + "---|" * len(modes) + "---|"]
    for s in dict.fromkeys(m.spelling for m in rows):
        for dt in dict.fromkeys(m.dtype for m in rows):
            cells = [by.get((s, dt, mo)) for mo in modes]
            out.append(f"| `{s}` | {dt} | " + " | ".join(_cell(c) if c else "n/a" for c in cells)
                       + f" | {cells[0].d_nan if cells[0] else 'n/a'} |")
    return "\n".join(out) + "\n"


def to_json(rows: list[Measurement], header: dict) -> dict:
    return {**header, "convention": "ReLU'(0) = 0 ([GM] Lemma 4.11)", "rows": [m.as_dict() for m in rows]}


def differences(pinned: dict, rows: list[Measurement]) -> list[str]:
    """Every (spelling, dtype, mode) whose measured fields differ from the pinned ones.

    Only the modes measured in this run are compared (a pinned torch.compile row is not a
    difference when --compile is not given), and only the dtypes measured.
    """
    measured = {m.key(): m.as_dict() for m in rows}
    modes = {m.mode for m in rows}
    dtypes = {m.dtype for m in rows}
    pinned_rows = {(r["spelling"], r["dtype"], r["mode"]): r for r in pinned.get("rows", [])
                   if r["mode"] in modes and r["dtype"] in dtypes}
    diffs = []
    for key in sorted(set(pinned_rows) | set(measured)):
        name = f"{key[0]} [{key[1]}, {key[2]}]"
        if key not in measured:
            diffs.append(f"{name}: pinned but not measured")
        elif key not in pinned_rows:
            diffs.append(f"{name}: measured but not pinned")
        else:
            for f in FIELDS:
                if pinned_rows[key][f] != measured[key][f]:
                    diffs.append(f"{name}: {f} pinned {pinned_rows[key][f]!r}, measured {measured[key][f]!r}")
    return diffs


def _split(text: str, valid, what: str) -> tuple[str, ...]:
    items = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [t for t in items if t not in valid]
    if bad:
        raise SystemExit(f"kinkcheck audit: unknown {what} {', '.join(bad)}; choose from {', '.join(valid)}")
    return items


def run(args) -> int:
    dtypes = _split(args.dtypes, tuple(DTYPES), "dtype")
    modes = _split(args.modes, MODES, "mode") + ((COMPILE_MODE,) if args.compile else ())
    header = stamp(args.device)
    rows = measure(SPELLINGS, dtypes, modes, args.device)
    print(terminal_table(rows, header))
    if args.json:
        Path(args.json).write_text(json.dumps(to_json(rows, header), indent=1) + "\n")
    if args.md:
        Path(args.md).write_text(markdown(rows, header))
    if args.write_expect:
        Path(args.write_expect).write_text(json.dumps(to_json(rows, header), indent=1) + "\n")
        print(f"pinned table written to {args.write_expect}")
    if args.expect:
        try:
            pinned = json.loads(Path(args.expect).read_text())
        except (OSError, ValueError) as exc:
            print(f"kinkcheck audit: cannot read --expect {args.expect}: {exc}", file=sys.stderr)
            return 2
        if pinned.get("torch") != header["torch"] or pinned.get("device") != header["device"]:
            print(f"note: pinned table is for torch {pinned.get('torch')} on {pinned.get('device')}, "
                  f"measured torch {header['torch']} on {header['device']}")
        diffs = differences(pinned, rows)
        if diffs:
            print(f"\n{len(diffs)} difference(s) from {args.expect}:")
            for d in diffs:
                print(f"  DIFF {d}")
            return 1
        print(f"\nno difference from {args.expect}")
    return 0
