"""The plugin follows pytest's conventions (issue #21) and shows coverage as a verdict (issue #19 item 1).

Each test reproduces a failure a newcomer met: unprefixed options that could clash, no ini settings,
KINKCHECK_OPTIMIZERS rejecting ';' and errors blaming --optimizer, marks unknown to an installed run
under --strict-markers, report paths checked only after the whole run, ``-p no:kinkcheck`` doing
nothing, a bare "No module named" for a module in the current directory, a 150-column table without a
legend, an optimizer-only gate running T1 on torch.relu, silent shrinking, a CLI that imports torch for
``--help``, tracebacks from ``kinkcheck audit --device``, and n/s folded into "pass".
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kinkcheck.plugin import options
from kinkcheck.plugin.report import TestRecord, markdown_table, terminal_table
from tests.zygote import ZYGOTE

ROOT = Path(__file__).resolve().parents[1]


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KINKCHECK_", "PYTEST_"))}
    env.update(OMP_NUM_THREADS="1", **extra)
    return env


def _pytest(cwd: Path, *args: str, python_flags: tuple = (), timeout: int = 240, **env: str):
    """``python -m pytest`` in ``cwd`` (outside the checkout: only the installed entry point), forked from a
    warm interpreter started with the same environment (tests/zygote.py: only torch, Hypothesis, numpy and
    sympy are imported ahead; nothing of kinkcheck), or a fresh one with interpreter flags."""
    argv = ["-p", "no:cacheprovider", *args]
    forked = None if python_flags else ZYGOTE.run(argv, cwd=cwd, env=_env(**env), timeout=timeout)
    if forked is not None:
        return forked
    return subprocess.run([sys.executable, *python_flags, "-m", "pytest", *argv],
                          cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=timeout)


STAND_IN = '''
import os
import pytest
from kinkcheck.harness.core.outcomes import NotSupported

@pytest.mark.theorem("T8")
def test_suite_fact():
    """[GM] Prop 2.10 (a stand-in)."""
    open(os.path.join(os.path.dirname(__file__), "ran.txt"), "w").write("ran")

@pytest.mark.theorem("T8")
def test_needs_maximize():
    """[GM] Prop 2.10 (a stand-in whose subject lacks a hyperparameter)."""
    raise NotSupported("adam=mylib:X", ["maximize"])

@pytest.mark.slow
@pytest.mark.thirdparty
def test_marked():
    pass
'''


# --------------------------------------------------------------------------- options
def test_options_are_namespaced_with_aliases_and_the_metavar_is_the_spec_syntax(tmp_path):
    text = _pytest(tmp_path, "--help").stdout
    for name in ("optimizer", "activation", "device", "dtype", "xfails-file", "report-json", "report-md",
                 "all-theorems", "slow", "timeout", "require-coverage"):
        assert f"--kinkcheck-{name}" in text, name
    for old in ("--optimizer", "--activation", "--device", "--dtype", "--xfails-file", "--report-json",
                "--report-md", "--all-theorems"):
        new = options.SETTINGS[next(k for k, s in options.SETTINGS.items() if s.alias == old)].flag
        assert f"alias of {new}" in " ".join(text.split()), old
    assert "FAMILY=module:attr[?k=v&k=v]" in text and "[:k=v,...]" not in text
    for ini in ("kinkcheck_optimizers", "kinkcheck_device", "kinkcheck_report_json", "kinkcheck_require_coverage"):
        assert ini in text, ini


def test_settings_come_from_command_line_then_environment_then_ini(pytester, monkeypatch):
    monkeypatch.delenv("KINKCHECK_OPTIMIZERS", raising=False)
    pytester.makeini("""
        [pytest]
        kinkcheck_optimizers =
            adam=torch.optim:Adam
            sgd=torch.optim:SGD
        kinkcheck_device = cpu
        kinkcheck_timeout = 30
        kinkcheck_require_coverage = true
        kinkcheck_report_json = out/r.json
    """)
    config = pytester.parseconfig()
    assert options.value(config, "optimizers") == ["adam=torch.optim:Adam", "sgd=torch.optim:SGD"]
    assert options.source(config, "optimizers") == "ini setting kinkcheck_optimizers"
    assert options.value(config, "device") == "cpu" and options.value(config, "timeout") == 30.0
    assert options.value(config, "require_coverage") is True
    assert options.value(config, "report_json") == str(pytester.path / "out" / "r.json")  # relative to the ini
    monkeypatch.setenv("KINKCHECK_OPTIMIZERS", "adamw=torch.optim:AdamW; nadam=torch.optim:NAdam")
    config = pytester.parseconfig()
    assert options.value(config, "optimizers") == ["adamw=torch.optim:AdamW", "nadam=torch.optim:NAdam"]
    assert options.source(config, "optimizers") == "KINKCHECK_OPTIMIZERS"
    config = pytester.parseconfig("--kinkcheck-optimizer", "lion=m:L", "--optimizer", "rprop=m:R",
                                  "--kinkcheck-timeout", "5")
    assert options.value(config, "optimizers") == ["lion=m:L", "rprop=m:R"]
    assert options.value(config, "timeout") == 5.0
    assert options.aliases_used(config) == [("--optimizer", "--kinkcheck-optimizer")]


def test_the_variable_takes_semicolons_and_commas_outside_brackets():
    assert options.split_specs("adam=m:A?betas=(0.9,0.99)&eps=1e-8;sgd=m:S, rprop=m:R") == [
        "adam=m:A?betas=(0.9,0.99)&eps=1e-8", "sgd=m:S", "rprop=m:R"]


def test_an_error_in_the_variable_names_the_variable(tmp_path):
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    r = _pytest(tmp_path, "-q", KINKCHECK_OPTIMIZERS="sgd=torch.optim:SGD;nofamily=torch.optim:SGD")
    assert r.returncode == 4, r.stdout + r.stderr
    assert "KINKCHECK_OPTIMIZERS 'nofamily=torch.optim:SGD': unknown family" in r.stderr, r.stderr
    assert "--optimizer" not in r.stderr


def test_an_old_option_name_works_with_one_note(tmp_path):
    (tmp_path / "test_x.py").write_text(STAND_IN)
    r = _pytest(tmp_path, "-q", "--device", "cpu", "--dtype", "float64")
    assert r.returncode == 0, r.stdout + r.stderr
    notes = [line for line in r.stdout.splitlines() if "is an alias of" in line]
    assert len(notes) == 1 and "--device is an alias of --kinkcheck-device" in notes[0], r.stdout


# --------------------------------------------------------------------------- marks, paths, -p no:
def test_an_installed_run_passes_under_strict_markers_without_unknown_mark_warnings(tmp_path):
    (tmp_path / "test_x.py").write_text(STAND_IN)
    r = _pytest(tmp_path, "-q", "--strict-markers", "-W", "error::pytest.PytestUnknownMarkWarning")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PytestUnknownMarkWarning" not in r.stdout + r.stderr


@pytest.mark.parametrize("name", ["report-json", "report-md"])
def test_a_report_path_in_a_missing_directory_is_a_usage_error_before_anything_runs(tmp_path, name):
    (tmp_path / "test_x.py").write_text(STAND_IN)
    r = _pytest(tmp_path, "-q", f"--kinkcheck-{name}", "missing/dir/out.x")
    assert r.returncode == 4, r.stdout + r.stderr
    assert f"--kinkcheck-{name} missing/dir/out.x" in r.stderr and "does not exist" in r.stderr
    assert not (tmp_path / "ran.txt").exists()


@pytest.mark.parametrize("name", ["kinkcheck", "kinkcheck.plugin"])
def test_p_no_kinkcheck_disables_the_plugin(tmp_path, name):
    (tmp_path / "test_x.py").write_text(STAND_IN)
    r = _pytest(tmp_path, "-q", "-p", f"no:{name}")
    assert r.returncode == 0 and "kinkcheck conformance" not in r.stdout, r.stdout + r.stderr
    assert "--kinkcheck-optimizer" not in _pytest(tmp_path, "--help", "-p", f"no:{name}").stdout
    assert "kinkcheck conformance" in _pytest(tmp_path, "-q").stdout  # enabled by default


def test_the_checkout_conftest_neither_registers_twice_nor_ignores_p_no(tmp_path):
    for extra in ((), ("-p", "no:kinkcheck")):
        r = _pytest(ROOT, "--co", "-q", "tests/test_report.py", *extra)
        assert r.returncode == 0, r.stdout + r.stderr
    assert "--kinkcheck-optimizer" not in _pytest(ROOT, "--help", "-p", "no:kinkcheck").stdout


def test_stale_metadata_with_the_old_entry_point_name_does_not_break_the_run(tmp_path):
    """An environment that still holds the old name (``kinkcheck.plugin``) next to the new one."""
    stale = tmp_path / "site" / "kinkcheck_stale-0.0.dist-info"
    stale.mkdir(parents=True)
    (stale / "METADATA").write_text("Metadata-Version: 2.1\nName: kinkcheck-stale\nVersion: 0.0\n")
    (stale / "entry_points.txt").write_text("[pytest11]\nkinkcheck.plugin = kinkcheck.plugin\n")
    r = _pytest(tmp_path, "--help", PYTHONPATH=str(tmp_path / "site"))
    assert r.returncode == 0 and r.stdout.count("--kinkcheck-optimizer=") == 1, r.stdout[-2000:] + r.stderr


# --------------------------------------------------------------------------- usage hints
def test_a_module_of_the_current_directory_gets_a_hint(tmp_path):
    (tmp_path / "myoptim.py").write_text("import torch\n\nclass MyOpt(torch.optim.Adam):\n    pass\n")
    # -P: no current directory on sys.path, as with the `pytest` script
    r = _pytest(tmp_path, "--pyargs", "kinkcheck.theorems", "--kinkcheck-optimizer", "adam=myoptim:MyOpt",
                python_flags=("-P",))
    assert r.returncode == 4, r.stdout + r.stderr
    assert "No module named 'myoptim'" in r.stderr and "python -m pytest" in r.stderr
    assert "PYTHONPATH=." in r.stderr and "pythonpath" in r.stderr


def test_theorems_outside_the_checkout_hints_pyargs(tmp_path):
    r = _pytest(tmp_path, "theorems/test_frozen_coordinates.py", "-q")
    assert r.returncode == 4, r.stdout + r.stderr
    assert "--pyargs kinkcheck.theorems.test_frozen_coordinates" in r.stdout + r.stderr


# --------------------------------------------------------------------------- coverage is a verdict
def test_not_supported_is_shown_next_to_what_ran_and_can_fail_the_run(tmp_path):
    (tmp_path / "test_x.py").write_text(STAND_IN)
    r = _pytest(tmp_path, "-q", "--kinkcheck-report-json", "r.json", "--kinkcheck-report-md", "r.md")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "pass 1 · n/s 1" in r.stdout  # not folded into "pass"
    assert "(suite) — 1 of 2 applicable tests ran; n/s 1: T8 (maximize)" in r.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    (cover,) = report["coverage"]
    assert (cover["applicable"], cover["ran"], cover["not_supported"]) == (2, 1, 1)
    assert cover["not_supported_tests"][0]["names"] == "maximize"
    md = (tmp_path / "r.md").read_text()
    assert "**Legend**" in md and "n/s N:" in md and "**Coverage**" in md
    strict = _pytest(tmp_path, "-q", "--kinkcheck-require-coverage")
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "--kinkcheck-require-coverage" in strict.stdout and "T8 test_needs_maximize (maximize)" in strict.stdout


def test_a_cell_where_nothing_ran_is_not_a_pass():
    records = [TestRecord("t.py::a", "T2", "adam", "not-supported", 0, reason="not supported: adam does not "
                          "accept maximize"), TestRecord("t.py::b", "T2", "adam", "not-supported", 0)]
    table = terminal_table(records)
    assert "n/s 2" in table and "pass" not in table.split("legend")[0]


# --------------------------------------------------------------------------- the table
def _wide_records() -> list[TestRecord]:
    out = []
    for k, subject in enumerate(["adam=mylib.optim:MyVeryLongAdamName", "sgd=torch.optim:SGD", "(suite)"]):
        for t in range(1, 15):
            out.append(TestRecord(f"theorems/test_x.py::test_{t}[{k}]", f"T{t}", subject, "passed", 100 + t,
                                  figures={"T figure": 0.5}))
            out.append(TestRecord(f"theorems/test_x.py::test_ns{t}[{k}]", f"T{t}", subject, "not-supported", 0,
                                  reason=f"not supported: {subject} does not accept eps"))
    out.append(TestRecord("theorems/test_x.py::test_xf", "T4", "sgd=torch.optim:SGD", "xfail", 0))
    out.append(TestRecord("theorems/test_x.py::test_oos", "T3", "sgd=torch.optim:SGD", "out-of-scope", 3))
    return out


@pytest.mark.parametrize("width", [60, 80, 120])
def test_the_table_fits_the_terminal_and_explains_every_word(width):
    records = _wide_records()
    assert max(map(len, terminal_table(records).splitlines())) > 120  # what a newcomer got: one wide table
    header = "kinkcheck 0.1.0 — " + "a long header line " * 20
    text = terminal_table(records, header, width=width, figures=False)
    assert max(map(len, text.splitlines())) <= width, text
    flat = " ".join(text.split())
    for word in ("pass N:", "xfail N:", "oos N:", "n/s N:", "(suite):", "[GM] Non-convergence", "[CUT] Kumar"):
        assert word in flat, word
    assert "T figure" not in text and "shown with -v" in flat  # the figures only at -v
    assert "T figure" in terminal_table(records, width=width, figures=True)
    assert "T figure" in markdown_table(records)


def test_an_optimizer_only_gate_does_not_run_the_default_activations_tests(tmp_path):
    (tmp_path / "test_x.py").write_text(textwrap.dedent('''
        import pytest

        @pytest.mark.theorem("T1")
        def test_activation_convention(activation):
            """[GM] Lemma 4.11 (a stand-in on the activation)."""
            raise AssertionError("must not run in an optimizer-only gate")

        @pytest.mark.theorem("T3")
        def test_optimizer(optimizer_subject):
            """[GM] Setting 4.1 (a stand-in on the optimizer)."""
        '''))
    r = _pytest(tmp_path, "-q", "--kinkcheck-optimizer", "sgd=torch.optim:SGD")
    assert r.returncode == 0, r.stdout + r.stderr
    flat = " ".join(r.stdout.split())
    assert "1 passed, 1 deselected" in flat and "default activation torch:relu's tests of T1" in flat
    given = _pytest(tmp_path, "-q", "--kinkcheck-optimizer", "sgd=torch.optim:SGD",
                    "--kinkcheck-activation", "torch:relu")
    assert given.returncode == 1 and "must not run" in given.stdout  # an activation under test: it runs


SHRINKING = '''
import time
import pytest
from hypothesis import given, settings, strategies as st

@pytest.mark.theorem("T8")
@settings(database=None, max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=5))
def test_fails_and_shrinks(xs):
    """[GM] Prop 2.10 (a stand-in that always fails)."""
    time.sleep(0.02)
    assert sum(xs) < 10
'''


def test_a_shrinking_failure_prints_progress(pytester):
    pytester.makeconftest("import kinkcheck.plugin\n\nkinkcheck.plugin.SHRINK_NOTE_S = 0.1  # not every 5 s\n")
    pytester.makepyfile(test_shrink=SHRINKING)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    assert result.ret == 1
    assert "kinkcheck: T8 (suite): shrinking a failing example" in result.stdout.str()
    assert "kinkcheck-ci-noshrink" in result.stdout.str()


def test_a_profile_bounds_shrinking_in_a_gate():
    from hypothesis import Phase, settings

    from kinkcheck.plugin import profiles

    profiles.register()
    noshrink = settings.get_profile(profiles.CI_NOSHRINK)
    assert Phase.shrink not in noshrink.phases and noshrink.derandomize


def test_t1_raises_no_torchscript_deprecation_warnings():
    r = _pytest(ROOT, str(ROOT / "theorems" / "test_relu_convention.py"), "-q", "-k", "indicator",
                "-W", "error::DeprecationWarning", "--hypothesis-profile", "kinkcheck-selftest")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "DeprecationWarning" not in r.stdout


# --------------------------------------------------------------------------- the command
def test_help_version_and_theorems_do_not_import_torch():
    code = ("import sys, contextlib, io\nfrom kinkcheck import cli\n"
            "for argv in (['--help'], ['--version'], ['audit', '--help'], ['report', '--help']):\n"
            "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
            "        cli.main(argv)\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    assert cli.main(['theorems']) == 0\n"
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, sorted(sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_no_arguments_is_a_usage_error():
    r = subprocess.run([sys.executable, "-m", "kinkcheck"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "usage: kinkcheck" in r.stderr


@pytest.mark.parametrize("device", ["mps", "cuda"])
def test_audit_on_a_device_this_machine_lacks_is_one_line(device):
    if device == "cuda":
        probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"],
                               capture_output=True, text=True, timeout=120)
        if probe.stdout.strip() != "False":
            pytest.skip("this machine has CUDA")
    r = subprocess.run([sys.executable, "-m", "kinkcheck", "audit", "--device", device, "--frameworks", "torch"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"--device {device}" in r.stderr


def test_the_audit_commands_names_equal_the_measuring_modules():
    from kinkcheck.harness.audit import command, kinks

    assert command.DTYPES == tuple(kinks.DTYPES) and command.MODES == kinks.MODES
    assert command.COMPILE_MODE == kinks.COMPILE_MODE


def test_the_readme_names_only_options_and_settings_that_exist():
    text = (ROOT / "README.md").read_text()
    sections = "".join(text.split(title, 1)[1].split("\n## ", 1)[0] for title in
                       ("## Pointing it at your own implementation", "## Using it as a CI gate"))
    flags = {s.flag for s in options.SETTINGS.values()}
    inis = {s.ini for s in options.SETTINGS.values()}
    import re

    named = set(re.findall(r"--kinkcheck-[a-z-]+[a-z]", sections))
    assert named and named <= flags, named - flags
    ini_named = set(re.findall(r"\bkinkcheck_[a-z_]+[a-z]\b", sections))
    assert ini_named and ini_named <= inis, ini_named - inis
    from kinkcheck.plugin import profiles

    for profile in set(re.findall(r"kinkcheck-ci-noshrink|kinkcheck-ci\b|kinkcheck-thorough", sections)):
        assert profile in (profiles.CI, profiles.CI_NOSHRINK, profiles.THOROUGH), profile


def test_an_old_name_another_plugin_took_first_is_left_to_it(tmp_path):
    """Before: two plugins defining --device ended every run in argparse's 'conflicting option string'."""
    (tmp_path / "otherplug.py").write_text('def pytest_addoption(parser):\n'
                                           '    parser.addoption("--device", default="x", help="another device")\n')
    r = _pytest(tmp_path, "-p", "otherplug", "--help", PYTHONPATH=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "another device" in r.stdout and "--kinkcheck-device" in r.stdout
    assert "alias of --kinkcheck-device" not in r.stdout
