"""The plugin's verdicts: failures that name their theorem and reproduce, ERROR for the suite's own
bugs, typed out-of-scope outcomes, the run header at the start, gate mode, threads per worker."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

from tests.conftest import ROOT

BROKEN = "sgd=tests.broken.optimizers:HiddenDecaySGD"


def test_a_failure_names_the_theorem_its_source_and_a_command_that_fails_again(run_suite):
    run = run_suite("--optimizer", BROKEN, modules=("test_frozen_coordinates.py",))
    assert run.ret == 1, run.text[-3000:]
    assert "T3: Frozen coordinates for every optimizer — [GM] Setting 4.1" in run.text
    assert f"subject: {BROKEN}" in run.text
    assert re.search(r"FAIL.*(the subject violates|the subject fails) T3", run.text), run.text[-3000:]
    commands = re.findall(r"^reproduce: (.+)$", run.text, re.M)
    assert commands, run.text[-3000:]
    args = shlex.split(commands[0])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    again = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1, again.stdout[-3000:] + again.stderr[-2000:]
    assert re.search(r"FAIL.*(the subject violates|the subject fails) T3", again.stdout) and "1 failed" in again.stdout


SUITE_LEVEL = '''
import pytest
from kinkcheck.harness.core.outcomes import HarnessError, OutOfScope

@pytest.mark.theorem("T5")
def test_a_broken_precondition():
    """[GM] Thm 4.2: a stand-in whose precondition (of the suite) fails."""
    raise HarnessError("the strategy produced a box with a < b violated")

@pytest.mark.theorem("T3")
def test_out_of_scope_with_its_measurement():
    """[GM] Setting 4.1 eq. (58): a configuration outside the hypothesis, measured."""
    raise OutOfScope("T3", "weight_decay=0.01 > 0", displacement=2.5e-4)

@pytest.mark.theorem("T8")
def test_passes():
    """[GM] Prop 2.10."""
'''


def test_suite_bugs_are_errors_and_out_of_scope_is_typed(pytester):
    pytester.makepyfile(test_suite_level=SUITE_LEVEL)
    json_path = pytester.path / "r.json"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--report-json", str(json_path))
    text = result.stdout.str()
    assert "ERROR of the suite itself (not a verdict on the subject)" in text
    import json
    cells = {c["theorem"]: c for c in json.loads(json_path.read_text())["cells"]}
    assert cells["T5"]["outcome"] == "error" and cells["T3"]["outcome"] == "out-of-scope"
    assert cells["T8"]["outcome"] == "passed"
    tests = {t["theorem"]: t for t in json.loads(json_path.read_text())["tests"]}
    assert tests["T3"]["figures"]["out-of-scope displacement (max)"] == 2.5e-4
    assert re.search(r"\(suite\)\s+pass 1\s+ERROR 1", text) or "ERROR 1" in text


def test_the_run_header_comes_first_and_names_the_environment(run_suite, monkeypatch):
    monkeypatch.setenv("KINKCHECK_EXAMPLE_SETTING", "1")
    run = run_suite("--optimizer", "sgd=torch.optim:SGD", modules=("test_frozen_coordinates.py",))
    lines = run.text.splitlines()
    head = lines[:lines.index("kinkcheck environment: KINKCHECK_EXAMPLE_SETTING=1") + 1]  # before any result
    assert head[0].startswith("kinkcheck ") and all(line.startswith(("kinkcheck", "  ")) for line in head), head
    assert "kinkcheck subjects (1): sgd=torch.optim:SGD" in head, head
    assert "hypothesis profile kinkcheck-selftest" in " ".join(head)


def test_a_gate_runs_only_what_depends_on_the_subject(run_suite):
    gate = run_suite("--optimizer", "adam=torch.optim:Adam", modules=("test_nonconvergence_width.py",))
    assert gate.ret == 0, gate.text[-3000:]
    assert "not run: independent of the subject" in gate.text and "(suite)" not in gate.text
    everything = run_suite("--optimizer", "adam=torch.optim:Adam", "--all-theorems",
                           modules=("test_nonconvergence_width.py",))
    assert everything.ret == 0 and "(suite)" in everything.text


THREADS = '''
import os, torch, pytest

@pytest.mark.theorem("T1")
@pytest.mark.parametrize("i", range(4))
def test_threads(placement, i):
    """[GM] Lemma 4.11 (a stand-in that reads the worker's torch threads)."""
    with open(os.path.join(os.environ["THREADS_OUT"], f"{os.getpid()}-{i}"), "w") as f:
        f.write(str(torch.get_num_threads()))
'''


@pytest.mark.parametrize("workers", ["0", "2"])
def test_xdist_workers_share_the_cores(pytester, tmp_path, monkeypatch, workers):
    pytester.makepyfile(test_threads=THREADS)
    monkeypatch.setenv("THREADS_OUT", str(tmp_path))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", workers)
    assert result.ret == 0, result.stdout.str()
    seen = {int(p.read_text()) for p in tmp_path.iterdir() if p.is_file() and "-" in p.name}
    cores = len(os.sched_getaffinity(0))
    if workers == "0":  # a serial run keeps torch's own default (read in a fresh interpreter)
        env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
        expected = int(subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                                      env=env, capture_output=True, text=True, check=True).stdout)
    else:
        expected = max(1, cores // int(workers))
    assert seen == {expected}, f"{workers} workers on {cores} cores ran with torch threads {seen}"


NO_DECAY = """
import torch

class AdamWithoutDecay(torch.optim.Adam):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, lr=lr, betas=betas, eps=eps)
"""


def test_a_hyperparameter_the_subject_does_not_take_is_not_supported_not_failed(pytester, tmp_path):
    pytester.makepyfile(nodecay=NO_DECAY)
    json_path = tmp_path / "r.json"
    result = pytester.runpytest_subprocess(
        str(ROOT / "theorems" / "test_frozen_coordinates.py"), "--optimizer", "adam=nodecay:AdamWithoutDecay",
        "-p", "no:cacheprovider", "--hypothesis-profile", "kinkcheck-selftest", f"--rootdir={ROOT}",
        "--report-json", str(json_path))
    assert result.ret == 0, result.stdout.str()[-3000:]
    import json
    tests = json.loads(json_path.read_text())["tests"]
    outcomes = {t["nodeid"].split("::")[1].split("[")[0]: (t["outcome"], t["reason"]) for t in tests}
    assert outcomes["test_zero_gradient_coordinates_never_move"][0] == "passed"  # a zero decay is dropped
    outcome, reason = outcomes["test_weight_decay_is_outside_the_hypothesis"]
    assert outcome == "not-supported" and "does not accept weight_decay" in reason


def test_expectation_lines_can_be_limited_to_dtypes(tmp_path):
    from kinkcheck.plugin import expectations as expect

    path = tmp_path / "x.txt"
    path.write_text("T4::adam[fused]  # layouts\n@float16,bfloat16 T3::adam[forloop]  # eps underflow\n")
    lines = expect.read(str(path))
    assert expect.match(lines, "T4", "adam[fused]") is not None
    assert expect.match(lines, "T3", "adam[forloop]", dtype="float64") is None  # never silences float64
    assert expect.match(lines, "T3", "adam[forloop]", dtype="float16") is not None
    shipped = expect.read(str(expect.BUILTIN))
    assert shipped and all(k.theorem and k.subject for k in shipped)
    scripts = {p.name for p in (ROOT / "docs" / "torch-deviations").glob("*.py")}
    for reason in shipped.values():  # each names its mechanism; a named script exists
        assert len(reason) > 20, reason
        named = [w.strip("()") .split("/")[-1] for w in reason.split() if w.strip("()").endswith(".py")]
        assert all(n in scripts for n in named), (reason, scripts)
