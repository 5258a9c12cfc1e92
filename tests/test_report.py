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
    assert "FAIL 7" in table and "pass 4+oos" in table
    assert "| `sgd` | pass 4+oos |" in markdown_table(records)


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
