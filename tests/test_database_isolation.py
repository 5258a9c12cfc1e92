"""#19 item 6(b): examples saved on one subject stay with it (kinkcheck/plugin/database.py).

A gate of a broken subject saves its failing examples in the Hypothesis database (the dev profile, the
default of README command 1, keeps one; the derandomized ci profiles do not). Then a slice of the
default suite runs on the built-in subjects in the same database: it must be green and replay none of
the broken subject's examples (Hypothesis's statistics print a "reuse phase" for a test that replayed
saved examples). Before the per-subject keys (the same runs with ``-p no:kinkcheck-database``), every
subject of a theorem test shared one key: the built-in run replayed the broken gate's example (one reuse
phase per seeded test) and, the example passing there, deleted it from the broken subject's record."""
from __future__ import annotations

from tests.conftest import optimizer_args

T3 = ("test_frozen_coordinates.py",)
SLICE = ("-k", "test_zero_gradient_coordinates_never_move")
BROKEN = "sgd=tests.broken.optimizers:HiddenDecaySGD"


def _keys(path) -> set[str]:
    examples = path / "examples"
    return {p.name for p in examples.iterdir()} if examples.is_dir() else set()


def test_a_broken_gate_leaves_no_example_for_the_builtin_subjects(run_suite, pytester, monkeypatch):
    database = pytester.path / "hypothesis-db"
    monkeypatch.setenv("HYPOTHESIS_STORAGE_DIRECTORY", str(database))
    for name in ("CI", "TF_BUILD", "GITHUB_ACTIONS", "BUILDKITE", "CIRCLECI", "CODEBUILD_BUILD_ID", "JENKINS_URL"):
        monkeypatch.delenv(name, raising=False)  # Hypothesis's CI profile keeps no database
    seed = run_suite(*optimizer_args(BROKEN), *SLICE, modules=T3, profile="kinkcheck-dev")
    assert seed.ret == 1 and "T3" in seed.failed_theorems(BROKEN), seed.text[-3000:]
    seeded = _keys(database)
    assert seeded, "the broken gate saved no example: the check would be vacuous"

    builtin = run_suite(*SLICE[:1], f"{SLICE[1]} and (sgd or adam)", "--hypothesis-show-statistics",
                        modules=T3, profile="kinkcheck-dev")
    assert builtin.ret == 0, builtin.text[-3000:]
    assert builtin.report["tests"], builtin.text[-3000:]
    assert "during reuse phase" not in builtin.text, builtin.text[-3000:]  # nothing replayed ...
    assert seeded <= _keys(database)  # ... and the broken subject's examples are still there

    again = run_suite(*optimizer_args(BROKEN), *SLICE, "--hypothesis-show-statistics", modules=T3,
                      profile="kinkcheck-dev")
    assert again.ret == 1 and "during reuse phase" in again.text, again.text[-3000:]  # its own key replays
