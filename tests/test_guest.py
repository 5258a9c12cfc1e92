"""kinkcheck is a guest in other people's environments ([#10]): one import name, a plugin that costs
nothing and changes nothing for runs that do not use it, profiles that never replace a user's own."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

UNRELATED = '''
import json, os
from hypothesis import given, settings, strategies as st

@given(st.integers())
def test_property(x):
    pass

def test_settings_seen_by_the_users_tests():
    s = settings.default
    out = {k: repr(getattr(s, k)) for k in ("max_examples", "derandomize", "deadline", "print_blob",
                                            "database", "phases", "suppress_health_check", "verbosity")}
    out["profile"] = settings.get_current_profile_name()
    out["decorated_max_examples"] = test_property._hypothesis_internal_use_settings.max_examples
    with open(os.environ["SETTINGS_OUT"], "w") as f:
        json.dump(out, f)
'''


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KINKCHECK_", "PYTEST_", "HYPOTHESIS_")) and k != "CI"}
    env.update(OMP_NUM_THREADS="1", **extra)
    return env


def _run(args, cwd, python=sys.executable, timeout=300, **env):
    return subprocess.run([python, *args], cwd=cwd, env=_clean_env(**env), capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    r = _run(["-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
             cwd=out, timeout=600)
    assert r.returncode == 0, _tail(r)
    (path,) = out.glob("kinkcheck-*.whl")
    return path


def test_the_wheel_has_one_top_level_name(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"kinkcheck"}, f"the wheel installs top-level names {sorted(top)}"
    for sub in ("harness/core", "harness/subjects", "harness/oracles", "harness/experiments", "harness/audit",
                "strategies", "theorems", "plugin"):
        assert f"kinkcheck/{sub}/__init__.py" in names, f"kinkcheck/{sub} is missing from the wheel"
    checkout = {p.relative_to(ROOT).with_suffix("").as_posix() for d in ("harness", "strategies", "theorems")
                for p in (ROOT / d).rglob("*.py")}
    packaged = {n.removeprefix("kinkcheck/").removesuffix(".py") for n in names if n.endswith(".py")}
    assert checkout <= packaged, f"not in the wheel: {sorted(checkout - packaged)}"


def _site_directories() -> list[str]:
    """The site-packages directories of the interpreter running the tests (a venv's own, a system
    Python's, the user site), where torch and Hypothesis are installed. Not the checkout: an editable
    install's finder lives in a ``.pth`` of these directories, and a path line of another ``.pth``
    file does not run the ``.pth`` files it names, so the checkout stays invisible."""
    import site
    import sysconfig

    candidates = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        candidates.append(site.getusersitepackages())
    candidates += [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    seen = []
    for c in candidates:
        if c and Path(c).is_dir() and c not in seen and Path(c).resolve() != ROOT:
            seen.append(c)
    return seen


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> str:
    """A venv that sees this environment's packages (torch, hypothesis) but has kinkcheck installed
    from the wheel, as a user's `pip install kinkcheck` would: no checkout on any path.

    The venv is made without ``system_site_packages``: created from inside a virtual environment, that
    option shows the *base* interpreter's packages, not the environment's, and a base without torch
    (any fresh machine) then fails with ``No module named 'torch'`` (issue #21 item 1). Instead a
    ``.pth`` file in the new venv lists the running interpreter's site-packages directories."""
    where = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(system_site_packages=False, with_pip=False).create(where)
    python = str(where / "bin" / "python")
    r = _run(["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=where, python=python)
    assert r.returncode == 0, _tail(r)
    purelib = Path(r.stdout.strip())
    (purelib / "zz_kinkcheck_guest_test.pth").write_text("\n".join(_site_directories()) + "\n")
    r = _run(["-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", str(wheel)],
             cwd=where, timeout=300)
    assert r.returncode == 0, _tail(r)
    r = _run(["-c", "import kinkcheck.theorems as t, torch, hypothesis, pytest; print(t.__file__)"], cwd=where,
             python=python)
    assert r.returncode == 0 and str(where) in r.stdout, f"the venv imports kinkcheck from {r.stdout.strip()} " \
                                                         f"{_tail(r)}"
    return python


def _tail(r, lines: int = 60) -> str:
    """The last ``lines`` whole lines of a finished process's stdout and stderr, labelled."""
    def last(text):
        kept = text.splitlines()[-lines:]
        return "\n".join(kept)
    return f"exit {r.returncode}\n--- stdout (last {lines} lines)\n{last(r.stdout)}\n--- stderr (last {lines} " \
           f"lines)\n{last(r.stderr)}"


def _users_project(tmp_path: Path) -> Path:
    """A project with its own `harness` package and `tests/strategies.py` (the idiomatic home of a
    project's Hypothesis strategies), and `pythonpath = .`."""
    (tmp_path / "harness").mkdir()
    (tmp_path / "harness" / "__init__.py").write_text("")
    (tmp_path / "harness" / "report.py").write_text("OWN = 'the user harness'\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "strategies.py").write_text(
        "from hypothesis import strategies as st\nsmall = st.integers(0, 3)\n")
    (tmp_path / "tests" / "test_own.py").write_text(textwrap.dedent('''
        from hypothesis import given
        from harness import report
        from strategies import small

        @given(small)
        def test_own(x):
            assert report.OWN == "the user harness" and 0 <= x <= 3
        '''))
    (tmp_path / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
    return tmp_path


def test_a_users_project_runs_its_tests_and_kinkchecks_theorems_together(installed, tmp_path):
    project = _users_project(tmp_path)
    r = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", "--pyargs",
              "kinkcheck.theorems.test_frozen_coordinates", "--optimizer", "sgd=torch.optim:SGD",
              "--hypothesis-profile", "kinkcheck-selftest"], cwd=project, python=installed)
    assert r.returncode == 0, _tail(r)
    assert "ImportError" not in r.stdout + r.stderr
    assert "kinkcheck conformance" in r.stdout and "test_own" not in r.stdout.split("kinkcheck conformance")[1]


def _settings(cwd: Path, *args: str, python=sys.executable, **env) -> dict:
    out = cwd / "settings.json"
    r = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "test_unrelated.py", *args], cwd=cwd, python=python,
             SETTINGS_OUT=str(out), **env)
    assert r.returncode == 0, _tail(r)
    return json.loads(out.read_text())


@pytest.mark.parametrize("ci", [False, True], ids=["local", "CI=true"])
def test_an_unrelated_run_gets_the_same_settings_with_and_without_kinkcheck(tmp_path, ci):
    (tmp_path / "test_unrelated.py").write_text(UNRELATED)
    env = {"CI": "true"} if ci else {}
    with_plugin = _settings(tmp_path, **env)
    without = _settings(tmp_path, "-p", "no:kinkcheck", **env)
    assert with_plugin == without, f"kinkcheck changed a user's Hypothesis settings: {with_plugin} vs {without}"


def test_a_users_tests_keep_their_settings_in_a_run_that_also_collects_theorems(tmp_path):
    (tmp_path / "test_unrelated.py").write_text(UNRELATED)
    alone = _settings(tmp_path)
    together = _settings(tmp_path, str(ROOT / "theorems" / "test_critical_point_risk.py"))
    assert together == alone, f"collecting kinkcheck's theorems changed the user's settings: {together}"


def test_importing_the_plugin_imports_neither_torch_nor_the_harness():
    r = _run(["-c", "import sys, kinkcheck.plugin; heavy = [m for m in ('torch', 'numpy', 'scipy', 'sympy', "
                    "'kinkcheck.harness.core.device', 'kinkcheck.harness.subjects.specs') if m in sys.modules]; "
                    "print(heavy)"], cwd=ROOT)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr
