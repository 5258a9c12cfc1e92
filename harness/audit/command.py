"""``kinkcheck audit``: the derivative each spelling of ReLU returns at its kink (T1 (c)).

Per framework, spelling, dtype, device and execution mode -- PyTorch eager autograd,
torch.func.grad / vjp / jvp, TorchScript (torch.jit.script), torch.compile with ``--compile``; JAX
(jax.grad, jax.jvp, jax.jit) and TensorFlow (GradientTape, tf.function) when installed -- the
derivative at +0.0 and -0.0 (relu6 also at 6), at the neighbouring floats (+-the smallest
subnormal), at +-inf and at NaN. A ReLU spelling is *conforming* when both kink derivatives are 0,
the convention ReLU'(0) = 0 of [GM] Lemma 4.11. *Relatives* (hardsigmoid/hardswish at +-3,
hardshrink/softshrink at +-0.5, JAX hard_tanh at +-1) have no convention in the papers: they are
excluded from the verdict and the table says which side's slope their kink derivative takes.
Eager torch rows also say whether the derivative depends on the position of the kink value in
the tensor (vectorised body vs scalar tail). CUDA is measured too when present.
``--expect FILE`` compares against a pinned table (written by ``--write-expect FILE``) and exits
non-zero naming every difference.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kinkcheck.harness.audit.kinks import Measurement

# torch is imported by the measuring functions only: `kinkcheck --help` and `kinkcheck theorems` do not pay
# for it. These names equal kinks.DTYPES, kinks.MODES and kinks.COMPILE_MODE (a self-test checks it).
DTYPES = ("float16", "bfloat16", "float32", "float64")
MODES = ("eager", "func.grad", "func.vjp", "func.jvp", "jit.script")
COMPILE_MODE = "compile"
DEVICES = ("auto", "cpu", "cuda")

FIELDS = ("d_pos", "d_neg", "d_up", "d_down", "d_pinf", "d_ninf", "d_nan", "conforming", "side", "positions")
OPTIONAL = ("jax", "tf")


def _adapter(name: str):
    if name == "jax":
        from kinkcheck.harness.audit import jax_kinks as mod
    else:
        from kinkcheck.harness.audit import tf_kinks as mod
    return mod


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("audit", help="derivative of every ReLU spelling at its kink, per dtype and mode",
                              description=__doc__)
    p.add_argument("--device", default="auto", help="cpu, cuda, or auto (cpu, and cuda when present; default)")
    p.add_argument("--dtypes", default=",".join(DTYPES), help="comma-separated (default: all four)")
    p.add_argument("--modes", default=",".join(MODES),
                   help=f"torch modes, comma-separated subset of {', '.join(MODES)}")
    p.add_argument("--frameworks", default="torch,jax,tf",
                   help="comma-separated subset of torch, jax, tf (default: all; missing ones are skipped)")
    p.add_argument("--compile", action="store_true", help="also measure under torch.compile (slow)")
    p.add_argument("--no-positions", action="store_true", help="skip the kink-position sweep (eager torch rows)")
    p.add_argument("--json", metavar="PATH", help="write the table as JSON")
    p.add_argument("--md", metavar="PATH", help="write the table as Markdown")
    p.add_argument("--expect", metavar="FILE", help="pinned JSON table: exit 1 on any difference")
    p.add_argument("--write-expect", metavar="FILE", help="write the measured table as a pinned JSON file")
    p.set_defaults(func=run)


def _column(m: Measurement) -> str:
    return m.mode if m.device == "cpu" else f"{m.mode}@{m.device}"


def _cell(m: Measurement) -> str:
    if m.status != "ok":
        return m.status.split(" (")[0]
    kink = m.d_pos if m.d_pos == m.d_neg else f"{m.d_pos}/{m.d_neg}"
    return f"{kink}{' !' if m.conforming is False else ''}"


def _groups(rows):
    return {fw: [m for m in rows if m.framework == fw] for fw in dict.fromkeys(m.framework for m in rows)}


def terminal_table(rows: list[Measurement], header: dict) -> str:
    """Per framework, grouped by spelling: one line per dtype, one column per mode (and device)."""
    lines = [f"kinkcheck audit — {', '.join(header['frameworks'].values())}: derivative at the kink "
             f"(+0/-0 when they differ; '!' = not the convention ReLU'(0) = 0)"]
    for note in header.get("skipped", []):
        lines.append(f"skipped: {note}")
    for fw, fw_rows in _groups(rows).items():
        by = {m.key(): m for m in fw_rows}
        cols = list(dict.fromkeys((m.mode, m.device) for m in fw_rows))
        labels = [mo if dev == "cpu" else f"{mo}@{dev}" for mo, dev in cols]
        spellings = list(dict.fromkeys(m.spelling for m in fw_rows))
        dtypes = list(dict.fromkeys(m.dtype for m in fw_rows))
        w = max(len(s) for s in spellings + ["spelling"])
        cw = max(11, *(len(c) for c in labels))
        lines += ["", f"== {header['frameworks'][fw]} ==",
                  f"{'spelling':{w}}  {'dtype':8}  " + "  ".join(f"{c:{cw}}" for c in labels)
                  + "  NaN    verdict     notes"]
        lines.append("-" * len(lines[-1]))
        for s in spellings:
            for dt in dtypes:
                cells = [by.get((fw, s, dt, mo, dev)) for mo, dev in cols]
                present = [c for c in cells if c is not None and c.status == "ok"]
                first = present[0] if present else None
                if first is not None and first.relative:
                    verdict = f"rel:{first.side}"
                else:
                    ok = all(c.conforming for c in cells if c is not None and c.conforming is not None)
                    verdict = "yes" if ok and present else "NO"
                notes = sorted({n for c in present for n in ([c.notes] if c.notes else [])
                                + ([f"position {c.positions}"] if c.positions.startswith("varies") else [])})
                lines.append(f"{s:{w}}  {dt:8}  " + "  ".join(f"{_cell(c) if c else 'n/a':{cw}}" for c in cells)
                             + f"  {first.d_nan if first else 'n/a':5}  {verdict:10}  {' | '.join(notes)}")
            lines.append("")
        relu_rows = [m for m in fw_rows if not m.relative]
        bad = list(dict.fromkeys(m.spelling for m in relu_rows if m.conforming is False))
        good = [s for s in dict.fromkeys(m.spelling for m in relu_rows) if s not in bad]
        lines.append(f"conforming in every dtype and mode: {', '.join(good) or 'none'}")
        lines.append(f"not conforming somewhere: {', '.join(bad) or 'none'}")
        skipped = sorted({f"{m.spelling} [{m.mode}]: {m.status}" for m in fw_rows if m.status.startswith("skipped")})
        for line in skipped:
            lines.append(f"skipped {line}")
        if fw == "torch":
            eager = [m for m in fw_rows if m.mode == "eager" and m.positions]
            moving = sorted({f"{m.spelling}[{m.dtype}]" for m in eager if m.positions.startswith("varies")})
            lines.append("kink derivative depends on the position in the tensor (lengths 1, 8, 33, 1000): "
                         + (", ".join(moving) if moving else f"no spelling ({len(eager)} rows checked)"))
        mismatch = sorted({f"{m.spelling}[{m.dtype}]" for m in fw_rows if m.mode == "func.jvp"
                           and (key := (fw, m.spelling, m.dtype, "func.vjp", m.device)) in by
                           and (m.d_pos, m.d_neg) != (by[key].d_pos, by[key].d_neg)})
        if mismatch:
            lines.append("forward (jvp) and reverse (vjp) mode disagree at the kink: " + ", ".join(mismatch))
    return "\n".join(lines)


def markdown(rows: list[Measurement], header: dict) -> str:
    out = [f"ReLU'(kink) per spelling — {', '.join(header['frameworks'].values())} "
           f"(`!` = not the convention ReLU'(0) = 0; relatives: the side whose slope the kink derivative takes)", ""]
    for fw, fw_rows in _groups(rows).items():
        by = {m.key(): m for m in fw_rows}
        cols = list(dict.fromkeys((m.mode, m.device) for m in fw_rows))
        out += [f"**{header['frameworks'][fw]}**", "",
                "| spelling | dtype | " + " | ".join(mo if d == "cpu" else f"{mo}@{d}" for mo, d in cols)
                + " | NaN | side | notes |", "|---|---|" + "---|" * len(cols) + "---|---|---|"]
        for s in dict.fromkeys(m.spelling for m in fw_rows):
            for dt in dict.fromkeys(m.dtype for m in fw_rows):
                cells = [by.get((fw, s, dt, mo, d)) for mo, d in cols]
                first = next((c for c in cells if c is not None), None)
                out.append(f"| `{s}` | {dt} | " + " | ".join(_cell(c) if c else "n/a" for c in cells)
                           + f" | {first.d_nan if first else 'n/a'} | {first.side if first else ''} | "
                           + f"{first.notes if first else ''} |")
        out.append("")
    return "\n".join(out)


def to_json(rows: list[Measurement], header: dict) -> dict:
    return {**header, "convention": "ReLU'(0) = 0 ([GM] Lemma 4.11)", "rows": [m.as_dict() for m in rows]}


def _key(r: dict) -> tuple:
    return (r.get("framework", "torch"), r["spelling"], r["dtype"], r["mode"], r.get("device", "cpu"))


def differences(pinned: dict, rows: list[Measurement]) -> list[str]:
    """Every (framework, spelling, dtype, mode, device) whose measured fields differ from the pinned ones.

    Only what both sides cover is compared: the frameworks, modes, dtypes and devices measured in
    this run (a pinned torch.compile row is not a difference without --compile) and pinned in the
    file (a CUDA or JAX row is not a difference against a CPU-only, torch-only file).
    """
    measured_all = [m.as_dict() for m in rows]
    cover = {f: {r[f] for r in measured_all} for f in ("framework", "mode", "dtype", "device")}
    pinned_all = pinned.get("rows", [])
    pinned_cover = {f: {r.get(f, d) for r in pinned_all} for f, d in (("framework", "torch"), ("device", "cpu"))}
    pinned_rows = {_key(r): r for r in pinned_all
                   if r.get("framework", "torch") in cover["framework"] and r["mode"] in cover["mode"]
                   and r["dtype"] in cover["dtype"] and r.get("device", "cpu") in cover["device"]}
    measured = {_key(r): r for r in measured_all
                if r["framework"] in pinned_cover["framework"] and r["device"] in pinned_cover["device"]}
    diffs = []
    for key in sorted(set(pinned_rows) | set(measured)):
        name = f"{key[1]} [{key[2]}, {key[3]}" + (f", {key[4]}" if key[4] != "cpu" else "") + "]"
        if key not in measured:
            diffs.append(f"{name}: pinned but not measured")
        elif key not in pinned_rows:
            diffs.append(f"{name}: measured but not pinned")
        else:
            for f in FIELDS:
                if f in pinned_rows[key] and pinned_rows[key][f] != measured[key][f]:
                    diffs.append(f"{name}: {f} pinned {pinned_rows[key][f]!r}, measured {measured[key][f]!r}")
    return diffs


def _split(text: str, valid, what: str) -> tuple[str, ...]:
    items = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [t for t in items if t not in valid]
    if bad:
        raise SystemExit(f"kinkcheck audit: unknown {what} {', '.join(bad)}; choose from {', '.join(valid)}")
    return items


def collect(frameworks=("torch",) + OPTIONAL, dtypes=tuple(DTYPES), modes=MODES, devices=None,
            positions=True) -> tuple[list[Measurement], dict]:
    """Measure every requested framework that is installed: (rows, header). Missing ones are named
    in ``header["skipped"]``, never raised."""
    import torch

    from kinkcheck.harness.audit import kinks

    devices = devices or kinks.devices()
    header = {"torch": torch.__version__, "device": ",".join(devices), "frameworks": {}, "skipped": []}
    rows: list[Measurement] = []
    if "torch" in frameworks:
        header["frameworks"]["torch"] = f"torch {torch.__version__} ({', '.join(devices)})"
        for dev in devices:
            rows += kinks.measure(kinks.ALL_SPELLINGS, dtypes, modes, dev, positions=positions)
    for name in OPTIONAL:
        if name not in frameworks:
            continue
        mod = _adapter(name)
        ok, text = mod.available()
        if not ok:
            header["skipped"].append(text)
            continue
        header["frameworks"][name] = f"{text} (cpu)"
        header[name] = mod.version()
        rows += mod.measure(tuple(d for d in dtypes if d in mod.DTYPES))
    return rows, header


class DeviceError(SystemExit):
    """A --device the audit cannot measure on this machine (exit 2, one line)."""


def check_device(device: str) -> None:
    """``--device`` must name a device this machine has: one line naming the problem, not a traceback."""
    if device not in DEVICES:
        raise DeviceError(f"kinkcheck audit: --device {device}: unknown device; choose from {', '.join(DEVICES)} "
                          f"(the audit measures CPU and CUDA)")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise DeviceError("kinkcheck audit: --device cuda: torch finds no CUDA device on this machine "
                              f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); "
                              "use --device cpu, or auto")


def run(args) -> int:
    try:
        check_device(args.device)
    except DeviceError as exc:
        print(exc, file=sys.stderr)
        return 2
    dtypes = _split(args.dtypes, tuple(DTYPES), "dtype")
    modes = _split(args.modes, MODES, "mode") + ((COMPILE_MODE,) if args.compile else ())
    frameworks = _split(args.frameworks, ("torch",) + OPTIONAL, "framework")
    devices = None if args.device == "auto" else [args.device]
    rows, header = collect(frameworks, dtypes, modes, devices, positions=not args.no_positions)
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
        if pinned.get("torch") != header["torch"]:
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


def __getattr__(name):  # kinks.stamp and Measurement, imported on first use (they import torch)
    if name in ("stamp", "Measurement"):
        from kinkcheck.harness.audit import kinks

        return getattr(kinks, name)
    raise AttributeError(name)


__all__ = ["collect", "differences", "markdown", "run", "terminal_table", "to_json"]
