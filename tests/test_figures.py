"""``kinkcheck report --json PATH --out DIR`` writes one readable PNG per plot."""
from __future__ import annotations

import argparse
import struct

import pytest

pytest.importorskip("matplotlib")

from kinkcheck.plugin.report import TestRecord, json_report  # noqa: E402
from kinkcheck import figures  # noqa: E402


def small_report() -> str:
    """A report in the format the plugin writes (kinkcheck.plugin.report.json_report), with the figures
    the plots read: the T6 born-dead table and width-2 depths, T10, T12 and T13 figures."""
    born = {f"born dead w={w} L={L}": f"{f:.3f} [{max(f - 0.03, 0):.3f}, {min(f + 0.03, 1):.3f}]"
            for w in (1, 2) for L, f in ((2, 0.5 / w), (5, 0.9 / w), (10, 0.99 / w))}
    records = [
        TestRecord("theorems/test_nonconvergence_depth.py::test_born_dead_probability_table", "T6", "(suite)",
                   cases=1, figures=born),
        TestRecord("theorems/test_nonconvergence_depth.py::test_width_two[torch]", "T6", "(suite)", cases=1,
                   figures={"width-2 depth with P(dead layer) >= 0.99 (torch init, measured)": 19,
                            "width-2 depth where the bound reaches 0.99": 294}),
        TestRecord("theorems/test_lasso_ndgm_oscillation.py::test_lambda_paradox[sgd]", "T10", "sgd", cases=20,
                   figures={"mean cycle l1 / (d s/2)": 1.0, "paradox: min l1 (lam2) / max l1 (lam1)": 2.48}),
        TestRecord("theorems/test_rmsprop_lambda_invariance.py::test_phase[rmsprop]", "T12", "rmsprop",
                   cases=6, figures={"late l1 / (d alpha/2), RMSProp": 1.01}),
        TestRecord("theorems/test_edge_of_stability.py::test_huber[sgd]", "T13", "sgd", cases=5,
                   figures={"least squares growth rate per step": 2.8, "Huber max ||P e_k|| / bound": 0.29}),
        TestRecord("theorems/test_frozen_coordinates.py::test_zero[adam]", "T3", "adam", outcome="failed", cases=3),
    ]
    return json_report(records, {"exitstatus": 1})


def _png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", head[16:24])


def _run(argv) -> int:
    parser = argparse.ArgumentParser(prog="kinkcheck")
    figures.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_report_command_writes_every_plot(tmp_path):
    report = tmp_path / "r.json"
    report.write_text(small_report())
    out = tmp_path / "figs"
    assert _run(["report", "--json", str(report), "--out", str(out), "--dpi", "60"]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(f"{name}.png" for name in figures.PLOTS)
    for name in written:
        path = out / name
        width, height = _png_size(path)
        assert path.stat().st_size > 5000 and width >= 300 and height >= 150, (name, width, height)


def test_born_dead_table_is_read_from_the_report(tmp_path):
    report = figures.Report.load(_write(tmp_path, small_report()))
    table = figures.born_dead_table(report)
    assert sorted(table) == [1, 2]
    assert table[2][0] == (2, 0.25, 0.22, 0.28)


def test_bad_input_is_reported_not_raised(tmp_path, capsys):
    assert _run(["report", "--json", str(tmp_path / "missing.json"), "--out", str(tmp_path)]) == 2
    assert _run(["report", "--json", _write(tmp_path, small_report()), "--out", str(tmp_path),
                 "--only", "t99"]) == 2
    assert "unknown plot" in capsys.readouterr().err


def test_the_cli_offers_the_command_once_wired():
    from kinkcheck.cli import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    if "report" not in sub.choices:
        pytest.skip("kinkcheck/cli.py does not register kinkcheck.figures yet")
    assert sub.choices["report"].get_default("func") is figures.run


def _write(tmp_path, text) -> str:
    path = tmp_path / "report.json"
    path.write_text(text)
    return str(path)
