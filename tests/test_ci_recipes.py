"""The CI recipes in ci/ work as a user would use them.

A throwaway "user repository" with its own optimizer package is written to a temporary
directory; ``ci/kinkcheck-gate.sh`` is run there, unchanged, against a correct optimizer (exit 0)
and against one with a hidden weight decay (non-zero exit, T3 named as failed). The GitHub and
GitLab recipes must run the very command the script runs.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GATE = ROOT / "ci" / "kinkcheck-gate.sh"

USER_PACKAGE = '''
import torch


class TheirAdam(torch.optim.Adam):
    """A correct optimizer: torch's Adam under the user's name."""


class TheirLeakyAdam(torch.optim.Adam):
    """Broken: after every step all parameters shrink by 1e-4 -- a weight decay that
    param_groups does not declare (weight_decay stays 0), so T3 is in scope and must fail."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = super().step(closure)
        for group in self.param_groups:
            for p in group["params"]:
                p.mul_(1 - 1e-4)
        return loss
'''


@pytest.fixture
def user_repo(tmp_path):
    pkg = tmp_path / "theirpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "optim.py").write_text(textwrap.dedent(USER_PACKAGE))
    return tmp_path


def _env(repo: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KINKCHECK_", "GITHUB_", "PYTEST_"))}
    env.update(PYTHONPATH=str(repo), PYTHON=sys.executable, OMP_NUM_THREADS="1", **extra)
    return env


def run_gate(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    # only the fast T3 module, no shrinking: the test needs the verdict, not a minimal example
    env.setdefault("KINKCHECK_PROFILE", "kinkcheck-selftest")
    env.setdefault("KINKCHECK_PYTEST_ARGS", "-k frozen_coordinates -p no:cacheprovider -W ignore::DeprecationWarning")
    return subprocess.run(["sh", str(GATE), *args], cwd=repo, env=_env(repo, **env),
                          capture_output=True, text=True, timeout=300)


def failed_cells(repo: Path) -> set[tuple[str, str]]:
    report = json.loads((repo / "kinkcheck.json").read_text())
    return {(c["theorem"], c["subject"]) for c in report["cells"] if c["outcome"] == "failed"}


def test_gate_passes_a_correct_optimizer(user_repo):
    r = run_gate(user_repo, "adam=theirpkg.optim:TheirAdam")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "T3" in r.stdout and "pass" in r.stdout
    assert failed_cells(user_repo) == set()
    assert "adam=theirpkg.optim:TheirAdam" in (user_repo / "kinkcheck.md").read_text()


def test_gate_rejects_hidden_weight_decay_naming_T3(user_repo):
    # the spec comes from the environment this time (the other way the script takes it)
    r = run_gate(user_repo, KINKCHECK_OPTIMIZERS="adam=theirpkg.optim:TheirLeakyAdam")
    assert r.returncode not in (0, 2, 4), r.stdout + r.stderr  # a theorem failure, not a usage error
    assert failed_cells(user_repo) == {("T3", "adam=theirpkg.optim:TheirLeakyAdam")}
    assert "FAILED" in r.stdout and "test_zero_gradient_coordinates_never_move" in r.stdout
    # the counterexample, as Hypothesis words it
    assert "Falsifying example" in r.stdout or "Failing test case" in r.stdout


def test_gate_without_optimizer_is_a_usage_error(user_repo):
    r = run_gate(user_repo)
    assert r.returncode == 2 and "no optimizer given" in r.stderr


def test_gate_reports_a_bad_spec_as_usage_error(user_repo):
    r = run_gate(user_repo, "adam=theirpkg.optim:NoSuchAdam")
    assert r.returncode == 4, r.stdout + r.stderr


def _script_command() -> list[str]:
    """The pytest command line the script runs with its defaults (the interpreter is `true`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINKCHECK_")}
    env.update(KINKCHECK_OPTIMIZERS="adam=x:Y", PYTHON="true")
    r = subprocess.run(["sh", str(GATE)], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    line = next(l for l in r.stdout.splitlines() if l.startswith("kinkcheck-gate: KINKCHECK_OPTIMIZERS="))
    words = shlex.split(line)[2:]  # drop "kinkcheck-gate:" and the variable
    assert words[0] == "true"
    return ["python"] + words[1:]


def _pytest_lines(texts: list[str]) -> list[list[str]]:
    return [shlex.split(t.strip().removeprefix("- ").removeprefix("run:").strip())
            for text in texts for t in text.splitlines() if "-m pytest" in t]


def test_github_workflow_runs_the_scripts_command():
    text = (ROOT / "ci" / "github-actions.yml").read_text()
    try:
        import yaml
    except ImportError:  # fall back to the text
        runs = [text]
    else:
        workflow = yaml.safe_load(text)
        (job,) = workflow["jobs"].values()
        runs = [step["run"] for step in job["steps"] if "run" in step]
        assert "theirpkg" in job["env"]["KINKCHECK_OPTIMIZERS"]
        assert any(step.get("uses", "").startswith("actions/upload-artifact") for step in job["steps"])
        assert any("GITHUB_STEP_SUMMARY" in r for r in runs)
        setup = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python"))
        assert str(setup["with"]["python-version"]) == "3.11"
    assert _pytest_lines(runs) == [_script_command()]
    assert "torch==2.13.0" in text


def test_gitlab_job_runs_the_scripts_command():
    text = (ROOT / "ci" / "gitlab-ci.yml").read_text()
    try:
        import yaml
    except ImportError:
        script = [text]
    else:
        script = ["\n".join(yaml.safe_load(text)["kinkcheck"]["script"])]
    assert _pytest_lines(script) == [_script_command()]


def _guards() -> list[tuple[str, list[str]]]:
    """(name, shell command) of the step of each recipe that refuses an empty KINKCHECK_OPTIMIZERS."""
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((ROOT / "ci" / "github-actions.yml").read_text())
    (job,) = workflow["jobs"].values()
    github = next(s["run"] for s in job["steps"] if "KINKCHECK_OPTIMIZERS is empty" in s.get("run", ""))
    gitlab = next(line for line in yaml.safe_load((ROOT / "ci" / "gitlab-ci.yml").read_text())["kinkcheck"]["script"]
                  if "KINKCHECK_OPTIMIZERS is empty" in line)
    return [("github", ["bash", "-e", "-c", github]), ("gitlab", ["sh", "-c", gitlab])]


@pytest.mark.parametrize("value", ["", "  "])
def test_the_recipes_fail_on_an_empty_optimizer_variable(value):
    """Before: an empty KINKCHECK_OPTIMIZERS silently ran the built-in torch.optim set and exited 0."""
    for name, command in _guards():
        empty = subprocess.run(command, env={**os.environ, "KINKCHECK_OPTIMIZERS": value},
                               capture_output=True, text=True, timeout=30)
        assert empty.returncode != 0 and "KINKCHECK_OPTIMIZERS is empty" in empty.stdout + empty.stderr, name
        given = subprocess.run(command, env={**os.environ, "KINKCHECK_OPTIMIZERS": "adam=x:Y"},
                               capture_output=True, text=True, timeout=30)
        assert given.returncode == 0, (name, given.stdout + given.stderr)


def test_the_recipes_state_what_the_gate_does():
    text = (ROOT / "ci" / "github-actions.yml").read_text() + (ROOT / "ci" / "gitlab-ci.yml").read_text()
    assert "unknown family: only family-independent theorems run" not in text  # an unknown family exits 4
    assert "unknown family" in text and "exit 4" in text
    for recipe in ("github-actions.yml", "gitlab-ci.yml", "kinkcheck-gate.sh", "github-actions-nightly-sharded.yml"):
        words = (ROOT / "ci" / recipe).read_text().split()
        old = [w for w in words if w in ("--report-md", "--report-json", "--xfails-file", "--all-theorems",
                                         "--optimizer", "--activation")]
        assert not old, (recipe, old)  # the namespaced names


def test_gate_takes_several_specs_separated_by_semicolons(user_repo):
    r = run_gate(user_repo, KINKCHECK_OPTIMIZERS="adam=theirpkg.optim:TheirAdam;adam=theirpkg.optim:TheirLeakyAdam")
    assert failed_cells(user_repo) == {("T3", "adam=theirpkg.optim:TheirLeakyAdam")}, r.stdout + r.stderr
