"""The conformance report: one table under pytest-xdist, JSON and Markdown outputs agree."""
import json

from kinkcheck.plugin.report import TestRecord, aggregate, markdown_table, terminal_table

ARGS = ("--optimizer", "adam=torch.optim:Adam", "--optimizer", "sgd=tests.broken.optimizers:HiddenDecaySGD")


def test_cell_outcome_is_the_worst_of_its_tests():
    records = [TestRecord("a", "T3", "adam", "passed", 5), TestRecord("b", "T3", "adam", "failed", 2),
               TestRecord("c", "T3", "sgd", "out-of-scope", 1), TestRecord("d", "T3", "sgd", "passed", 3)]
    cells = aggregate(records)
    assert cells[("T3", "adam")].outcome == "failed" and cells[("T3", "adam")].cases == 7
    assert cells[("T3", "sgd")].outcome == "passed" and cells[("T3", "sgd")].out_of_scope == 1
    table = terminal_table(records)
    assert "FAIL 7" in table and "pass 3 · oos 1" in table  # what ran, and what did not, side by side
    assert "| `sgd` | pass 3 · oos 1 |" in markdown_table(records)


def test_xdist_gives_the_same_cells_as_a_serial_run(run_suite, tmp_path):
    serial = run_suite(*ARGS, "--report-json", str(tmp_path / "serial.json"), modules=("test_frozen_coordinates.py",))
    parallel = run_suite(*ARGS, "-n", "2", "--report-json", str(tmp_path / "parallel.json"),
                         "--report-md", str(tmp_path / "parallel.md"), modules=("test_frozen_coordinates.py",))
    assert serial.ret == parallel.ret == 1
    assert parallel.text.count("kinkcheck conformance") == 1
    cells = [{(c["theorem"], c["subject"]): (c["outcome"], c["tests"]) for c in
              json.loads((tmp_path / f"{name}.json").read_text())["cells"]} for name in ("serial", "parallel")]
    assert cells[0] == cells[1]
    assert cells[0][("T3", "sgd=tests.broken.optimizers:HiddenDecaySGD")][0] == "failed"
    assert cells[0][("T3", "adam=torch.optim:Adam")][0] == "passed"
    md = (tmp_path / "parallel.md").read_text()
    assert "| `adam=torch.optim:Adam` | pass" in md and "FAIL" in md


def test_merged_report_shows_figures_only_with_v_and_keeps_the_legend(tmp_path, capsys):
    from kinkcheck.cli import main
    from kinkcheck.plugin.report import json_report

    shard = tmp_path / "shard.json"
    records = [TestRecord("theorems/test_x.py::test_a", "T5", "(suite)", "passed", 3, figures={"p (exact)": 0.25}),
               TestRecord("theorems/test_x.py::test_b", "T5", "(suite)", "not-supported", 0,
                          reason="not supported: adam does not accept maximize")]
    shard.write_text(json_report(records, {"exitstatus": 0, "header": "kinkcheck", "subjects": []}))
    assert main(["report", "--merge", str(shard), "--md-out", str(tmp_path / "m.md")]) == 0
    out = capsys.readouterr().out
    assert "pass 3 · n/s 1" in out and "p (exact)" not in out and "legend:" in out
    assert main(["report", "--merge", str(shard), "-v"]) == 0
    assert "p (exact): 0.25" in capsys.readouterr().out
    md = (tmp_path / "m.md").read_text()
    assert "**Legend**" in md and "p (exact): 0.25" in md
    assert json.loads(json_report(records, {}))["coverage"][0]["not_supported"] == 1
