"""Verdict integrity (issue #19): a green gate means the subject was checked, a red one that the subject
is wrong. Each hatch has a broken subject that is now rejected, each false-alarm pattern a correct
subject that now passes (``tests/verdict_impls.py``)."""
from __future__ import annotations

import json

import pytest
import torch

from kinkcheck.harness.core import guard
from kinkcheck.harness.core.outcomes import HarnessError, NotSupported, SubjectError
from kinkcheck.harness.subjects.specs import SpecError, parse_optimizer_spec, parse_optimizer_specs
from kinkcheck.plugin import blame
from kinkcheck.plugin import expectations as expect

IMPLS = "tests.verdict_impls"
KERAS = f"adam={IMPLS}:KerasAdam?rename={{'betas': ('beta1', 'beta2')}}"


# ----------------------------------------------------------------------------- 1. coverage is a verdict
@pytest.mark.parametrize("spec, names", [
    (f"sgd={IMPLS}:NoLrSGD", ["'lr'", "rename"]),
    (f"adam={IMPLS}:KerasAdam", ["'betas'", "rename={'betas': ('beta1', 'beta2')}"]),
    (f"sgd={IMPLS}:NotAnOptimizer", ["no step, zero_grad, param_groups", "torch.optim.Optimizer"]),
])
def test_a_subject_that_cannot_be_built_with_its_defining_hyperparameters_is_a_usage_error(spec, names):
    with pytest.raises(SpecError) as err:
        parse_optimizer_specs([spec])
    for name in names:
        assert name in str(err.value), str(err.value)


def test_the_gate_refuses_it_with_exit_4_before_running(run_suite):
    run = run_suite("--kinkcheck-optimizer", f"sgd={IMPLS}:NoLrSGD", modules=("test_frozen_coordinates.py",))
    assert run.ret == 4, run.text[-3000:]
    assert "defining hyperparameter" in run.text and "'lr'" in run.text


def test_rename_maps_pairs_and_rejects_what_the_suite_does_not_pass():
    subject = parse_optimizer_spec(KERAS)
    assert subject.translate({"lr": 0.1, "betas": (0.5, 0.9)}) == {"lr": 0.1, "beta1": 0.5, "beta2": 0.9}
    with pytest.raises(SpecError, match="does not pass"):
        parse_optimizer_spec(f"adam={IMPLS}:KerasAdam?rename={{'nonsense': 'x'}}")
    with pytest.raises(SpecError, match="defines family 'adam'"):
        parse_optimizer_spec(f"adam={IMPLS}:KerasAdam?rename={{'betas': None}}")
    with pytest.raises(SpecError, match="decay_law must be one of"):
        parse_optimizer_spec("adam=torch.optim:Adam?decay_law='sideways'")


def test_a_renamed_optimizer_is_checked_and_what_did_not_run_is_shown_beside_it(run_suite, tmp_path):
    """KerasAdam (fixed eps = 1e-7, no eps argument): T2/T3 run with its own eps (their claims hold for
    every eps), T4 compares nothing it was not given (n/s: eps), and the cells say so."""
    modules = ("test_frozen_coordinates.py", "test_reference_recursions.py")
    run = run_suite("--kinkcheck-optimizer", KERAS, modules=modules)
    assert run.ret == 0, run.text[-3000:]
    row, tests = run.cells()[KERAS], run.tests(KERAS)
    assert row["T3"] == "passed", row
    assert tests["test_iterates_follow_the_family_recursion"] == {"not-supported"}, tests
    assert "n/s" in run.text and "eps" in run.text
    strict = run_suite("--kinkcheck-optimizer", KERAS, "--kinkcheck-require-coverage", modules=modules)
    assert strict.ret == 1, strict.text[-3000:]


def test_t4_reference_takes_a_missing_switch_at_its_off_position_and_never_a_missing_value():
    from kinkcheck.harness.oracles.contract_runs import accepted

    subject = parse_optimizer_spec(KERAS)
    ref, not_taken = accepted(subject, {"lr": 0.1, "betas": (0.5, 0.9), "maximize": True, "weight_decay": 0.0})
    assert ref["maximize"] is False and not_taken == ["maximize"]
    with pytest.raises(NotSupported, match="eps"):
        accepted(subject, {"lr": 0.1, "betas": (0.5, 0.9), "eps": 1e-3})


# ----------------------------------------------------------------------------- 2. expectations' grain
def test_expectation_lines_match_their_test_and_the_dtype_it_computes_in(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("@bfloat16 T4::adam=m:A  # a bfloat16 kernel deviation\n"
                    "T4::adam=m:A::test_low_precision_iterates_stay_within_the_rounding_bound[float16]  # f16\n")
    lines = expect.read(str(path))
    low = "test_low_precision_iterates_stay_within_the_rounding_bound"
    assert expect.match(lines, "T4", "adam=m:A", test="test_iterates_follow_the_family_recursion",
                        params_id="adam=m:A", dtype="float64") is None
    assert expect.match(lines, "T4", "adam=m:A", test=low, params_id="adam=m:A-bfloat16", dtype="bfloat16")
    assert expect.match(lines, "T4", "adam=m:A", test=low, params_id="adam=m:A-float16", dtype="float16")
    assert expect.match(lines, "T4", "adam=m:A", test=low, params_id="adam=m:A-float32", dtype="float32") is None
    path.write_text("@float8 T4::adam=m:A\n")
    with pytest.raises(expect.ExpectationsError, match="unknown dtype"):
        expect.read(str(path))


def test_a_low_precision_expectation_never_silences_the_float64_check(run_suite, tmp_path):
    """A user lists a bfloat16 deviation of T4; a float64 regression of the same subject still fails."""
    subject = "adam=tests.broken.recursions:OffByOneAdam"
    xfails = tmp_path / "known.txt"
    xfails.write_text(f"@bfloat16 T4::{subject}  # a known bfloat16 kernel deviation\n")
    run = run_suite("--kinkcheck-optimizer", subject, "--kinkcheck-xfails-file", str(xfails),
                    "-k", "iterates_follow or bfloat16", modules=("test_reference_recursions.py",))
    outcomes = run.tests(subject)
    assert outcomes["test_iterates_follow_the_family_recursion"] == {"failed"}, outcomes
    assert outcomes["test_low_precision_iterates_stay_within_the_rounding_bound"] <= {"xfail", "xpass"}, outcomes
    assert run.ret == 1


def test_torch_fused_subjects_run_t4_except_the_layouts_their_kernels_ignore():
    from kinkcheck.harness.subjects.specs import builtin_subjects

    fused = [s for s in builtin_subjects(torch.device("cpu"), torch.float64) if s.label.endswith("[fused]")]
    assert fused, "no fused torch.optim path here"
    shipped = expect.read(str(expect.BUILTIN))
    for s in fused:
        assert [a for a, _ in s.skip_axes][:1] == ["layouts"], s
        hit = expect.match(shipped, "T4", s.label, test="test_iterates_follow_the_family_recursion",
                           params_id=s.label, dtype="float64")
        assert hit is None, f"{s.label}: the float64 T4 check is silenced by {hit}"


# ----------------------------------------------------------------------------- 3. declared decay law
def test_correct_optimizers_with_a_decay_of_their_own_pass(run_suite):
    """Default coupled decay (SGD, 1e-2), decoupled decay declared in the spec (an Adam with AdamW-style
    decay): out of scope where the theorem needs no decay, checked against the declared law there."""
    decoupled = f"adam={IMPLS}:DecoupledAdam?decay_law='decoupled'"
    specs = (f"sgd={IMPLS}:DefaultDecaySGD", decoupled)
    args = [a for s in specs for a in ("--kinkcheck-optimizer", s)]
    run = run_suite(*args, modules=("test_frozen_coordinates.py", "test_inactive_neuron_invariance.py",
                                    "test_mixed_precision.py"))
    assert run.verdicts({}, accepted=specs) == [], run.text[-4000:]
    assert run.ret == 0


def test_an_undeclared_decay_law_fails_with_a_message_that_says_how_to_declare_it(run_suite):
    subject = f"adam={IMPLS}:DecoupledAdam"
    run = run_suite("--kinkcheck-optimizer", subject, "-k", "coupled_decay_breaks",
                    modules=("test_inactive_neuron_invariance.py",))
    assert run.failed_theorems(subject) == {"T2"}, run.text[-3000:]
    assert "decay_law='decoupled'" in run.failure_text(subject)


def test_a_decay_bug_cannot_hide_under_out_of_scope(run_suite):
    subject = f"adamw={IMPLS}:DoubleDecayAdamW"
    run = run_suite("--kinkcheck-optimizer", subject, "-k", "weight_decay_is_outside",
                    modules=("test_frozen_coordinates.py",))
    assert run.failed_theorems(subject) == {"T3"}, run.text[-3000:]
    assert "do not follow it" in run.failure_text(subject)


# ----------------------------------------------------------------------------- 4. blame follows the call
def test_the_subjects_exception_anywhere_the_suite_calls_it_is_its_fail(run_suite):
    subject = f"sgd={IMPLS}:RaisesInZeroGradSGD"
    run = run_suite("--kinkcheck-optimizer", subject, modules=("test_frozen_coordinates.py",
                                                               "test_reference_recursions.py"))
    row = run.cells()[subject]
    assert row.get("T4") == "failed" and "error" not in row.values(), row
    assert "FAIL (raised)" in run.failure_text(subject)


def test_an_old_zero_grad_without_set_to_none_is_driven_not_failed(run_suite):
    subject = f"sgd={IMPLS}:OldZeroGradSGD"
    run = run_suite("--kinkcheck-optimizer", subject, modules=("test_reference_recursions.py",))
    assert run.ret == 0, run.text[-3000:]
    assert run.cells()[subject]["T4"] == "passed"


def _raise_in(filename: str, exc: BaseException) -> BaseException:
    code = compile("def f(e):\n    raise e\n", filename, "exec")
    namespace = {}
    exec(code, namespace)
    try:
        namespace["f"](exc)
    except BaseException as caught:  # noqa: BLE001 - the point is to capture it
        return caught
    raise RuntimeError("unreachable")


def test_an_assertion_outside_the_claims_is_the_suites_error():
    from kinkcheck.plugin.session import theorems_dir

    in_strategy = _raise_in("/somewhere/strategies/networks.py", AssertionError("a precondition of the suite"))
    in_theorem = _raise_in(str(theorems_dir() / "test_frozen_coordinates.py"), AssertionError("T3: moved"))
    assert blame.is_suite_error(in_strategy)
    assert not blame.is_suite_error(in_theorem)
    assert not blame.is_suite_error(SubjectError("the subject raised"))
    assert blame.is_suite_error(HarnessError("a bug of the suite"))
    assert blame.is_suite_error(AttributeError("'dict' object has no attribute 'ndim'"))


def test_the_guard_blames_the_subject_for_its_own_exceptions_only():
    class Subject:
        label, spec = "sgd=m:S", "m:S"

    def subjects_code():
        raise ValueError("inside the subject")

    with pytest.raises(SubjectError, match="raised ValueError in step 1"):
        guard.call(Subject(), "step 1", subjects_code)

    def suites_closure():
        raise KeyError("inside the suite's closure")

    def step(closure):
        return closure()

    with pytest.raises(KeyError):  # the suite's own error passes through the subject unchanged
        guard.call(Subject(), "step 1", step, guard.callback(suites_closure))


def test_groups_for_a_matrix_flag_subject_are_built_before_the_guarded_call():
    """The suite's own preparation (flagged parameter groups from group dictionaries) is not the subject's:
    it used to raise AttributeError inside the guarded construction and read as a FAIL of T4."""
    subject = parse_optimizer_spec("sgd=torch.optim:SGD?matrix_flag='use_muon'")
    w, b = torch.zeros(2, 2, requires_grad=True), torch.zeros(2, requires_grad=True)
    groups = subject.groups([{"params": [w]}, {"params": [b], "lr": 0.5}])
    assert groups == [{"params": [w], "use_muon": True}, {"params": [b], "lr": 0.5, "use_muon": False}]


def test_the_report_names_the_kind_of_failure(run_suite, tmp_path):
    subject = "adam=tests.broken.recursions:OffByOneAdam"
    report = tmp_path / "r.json"
    run = run_suite("--kinkcheck-optimizer", subject, "--kinkcheck-report-json", str(report), "-k", "iterates_follow",
                    modules=("test_reference_recursions.py",))
    assert "FAIL (does not follow the family recursion)" in run.failure_text(subject)
    tests = json.loads(report.read_text())["tests"]
    assert any(t["outcome"] == "failed" and "recursion" in t.get("reason", "") for t in tests), tests


def test_a_family_records_known_limit_never_covers_a_users_subject(run_suite, tmp_path):
    """Known torch deviations live in the built-in expectations (applied only to torch.optim's own subjects,
    in runs without --kinkcheck-optimizer), never in a family record that every subject of the family shares:
    a user's adafactor is checked in float16 like any other subject."""
    from kinkcheck.harness.subjects.families import FAMILIES

    dtype_limits = [(f.name, what) for f in FAMILIES.values() for what, _ in f.limits
                    if what.startswith("T4 ") and what.split()[1] in ("float16", "bfloat16", "float32")]
    assert dtype_limits == [], f"family records silence a dtype for every subject: {dtype_limits}"
    subject = "adafactor=torch.optim:Adafactor?foreach=False"
    run = run_suite("--kinkcheck-optimizer", subject, "-k", "low_precision and float16",
                    modules=("test_reference_recursions.py",))
    outcomes = run.tests(subject).get("test_low_precision_iterates_stay_within_the_rounding_bound", set())
    assert outcomes and not outcomes & {"xfail", "xpass"}, outcomes


def test_sgd_with_decoupled_decay_is_checked_against_its_declared_law(run_suite):
    """Momentum SGD with decoupled decay (SGDW) used to fail T4 under family momentum with no way to declare
    it; declared, T4's reference decays the same way, and undeclared it still fails (the law matters)."""
    declared = "momentum=tests.verdict_impls:SGDW?decay_law='decoupled'"
    undeclared = "momentum=tests.verdict_impls:SGDW"
    args = ["--kinkcheck-optimizer", declared, "--kinkcheck-optimizer", undeclared, "-k", "iterates_follow"]
    run = run_suite(*args, modules=("test_reference_recursions.py",))
    assert run.verdicts({undeclared: {"T4"}}, accepted=(declared,)) == [], run.text[-3000:]
