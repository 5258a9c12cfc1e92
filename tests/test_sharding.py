"""Sharded runs (pytest-split groups on several CI runners) merge into one table whose cells are
those of the unsharded run ([#13] item 4): `kinkcheck report --merge`."""
from __future__ import annotations

import json

import pytest

from kinkcheck.cli import main

pytest.importorskip("pytest_split")
ARGS = ("--optimizer", "sgd=torch.optim:SGD", "--optimizer", "adam=torch.optim:Adam", "--all-theorems")
MODULES = ("test_frozen_coordinates.py", "test_lasso_ndgm_oscillation.py")


def _cells(path):
    return {(c["theorem"], c["subject"]): (c["outcome"], c["tests"], c["cases"])
            for c in json.loads(path.read_text())["cells"]}


def test_shards_merge_into_the_unsharded_table(run_suite, tmp_path, capsys):
    whole = run_suite(*ARGS, "--report-json", str(tmp_path / "whole.json"), modules=MODULES)
    assert whole.ret == 0, whole.text[-3000:]
    shards = []
    for group in (1, 2):
        path = tmp_path / f"shard-{group}.json"
        run = run_suite(*ARGS, "--splits", "2", "--group", str(group), "--report-json", str(path), modules=MODULES)
        assert run.ret == 0, run.text[-3000:]
        shards.append(path)
    assert all(_cells(p) != _cells(tmp_path / "whole.json") for p in shards), "a shard ran everything"
    merged = tmp_path / "merged.json"
    assert main(["report", "--merge", *map(str, shards), "--json-out", str(merged),
                 "--md-out", str(tmp_path / "merged.md")]) == 0
    assert "merged from 2 shards" in capsys.readouterr().out
    assert _cells(merged) == _cells(tmp_path / "whole.json")


def test_overlapping_shards_are_refused(tmp_path, capsys):
    test = {"nodeid": "t::a", "theorem": "T3", "subject": "sgd", "outcome": "passed", "cases": 1}
    for name in ("a", "b"):
        (tmp_path / f"{name}.json").write_text(json.dumps({"meta": {}, "tests": [test]}))
    assert main(["report", "--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 2
    assert "must be disjoint" in capsys.readouterr().err


def test_the_nightly_recipe_runs_every_shard_and_merges_them():
    yaml = pytest.importorskip("yaml")
    from tests.conftest import ROOT

    recipe = yaml.safe_load((ROOT / "ci" / "github-actions-nightly-sharded.yml").read_text())
    groups = recipe["jobs"]["shard"]["strategy"]["matrix"]["group"]
    assert groups == list(range(1, int(recipe["env"]["SHARDS"]) + 1))
    shard_cmd = next(s["run"] for s in recipe["jobs"]["shard"]["steps"] if "pytest" in str(s.get("run", "")))
    assert '--splits "$SHARDS" --group ${{ matrix.group }}' in shard_cmd
    assert "--kinkcheck-report-json shard-" in shard_cmd
    merge_cmd = next(s["run"] for s in recipe["jobs"]["merge"]["steps"] if "--merge" in str(s.get("run", "")))
    assert "kinkcheck report --merge shard-*.json" in merge_cmd
