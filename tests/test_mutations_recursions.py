"""Mutation self-tests for T4 (theorems/test_reference_recursions.py): each deliberately wrong
optimizer is rejected with T4 named, the correct from-scratch optimizers of tests/reference_impls.py
and the torch.optim classes (for-loop path) are accepted, and the family records agree with
torch.optim's constructors."""
import inspect

import pytest
import torch

from kinkcheck.harness.subjects.families import FAMILIES, IMPLEMENTATION_FLAGS
from tests.conftest import optimizer_args

MODULE = ("test_reference_recursions.py",)
BROKEN = "tests.broken.recursions"


WRONG = [
    "adam=tests.broken.recursions:OffByOneAdam",  # bias correction 1 - beta^(t+1)
    "adam=tests.broken.recursions:EpsInsideSqrtAdam",  # sqrt(v_hat + eps)
    "adam=tests.broken.recursions:DoubledStepAdam",  # 2 lr
    "rmsprop=tests.broken.recursions:SwappedRMSprop",  # (1 - alpha) v + alpha g^2
    "nesterov=tests.broken.recursions:NesterovIgnoredSGD",  # heavy ball instead of Nesterov
    "momentum=tests.broken.recursions:DoubledStepSGD",  # 2 lr
    # one per axis of the contract
    "adam=tests.broken.recursions:IgnoresMaximizeAdam",  # hyperparameters: maximize
    "adam=tests.broken.recursions:LrCachedAtFirstStepAdam",  # schedules through param_groups
    "adam=tests.broken.recursions:DefaultsForEveryGroupAdam",  # several groups
    "adam=tests.broken.recursions:FlattenedCopyAdam",  # non-contiguous / channels_last parameters
    "adam=tests.broken.recursions:GradStridesOfParamAdam",  # gradient layout != parameter layout
    "adam=tests.broken.recursions:GradNoneAsZeroAdam",  # grad None
    "adam=tests.broken.recursions:StepPerGroupAdam",  # step counter per group
    "adam=tests.broken.recursions:StateOutsideStateDictAdam",  # state_dict round trip
]
# the low-precision and the SIMD-tail teeth show only on some draws (bfloat16 with beta2 = 0.999 rounded to
# 1.0; a vector of more than 16 elements whose length is not a multiple of 16): they get the thorough budget on
# the one test that can see them, the others the selftest budget
WRONG_ON_SOME_DRAWS = [
    ("adam=tests.broken.recursions:BiasCorrectionInParamDtypeAdam", "low_precision and bfloat16"),  # low precision
    ("adam=tests.broken.recursions:TailDroppedAdam", "follow_the_family"),  # SIMD tails
]
CORRECT = [f"{fam}=tests.reference_impls:{cls}" for fam, cls in [
    ("adam", "Adam"), ("nadam", "NAdam"), ("radam", "RAdam"), ("adagrad", "Adagrad"), ("rmsprop", "RMSprop"),
    ("lion", "Lion")]] + [f"adam={BROKEN}:CorrectAdam"]


def _t4_verdict_missing(run, spec) -> str | None:
    """Why ``spec``'s failure output does not read as a T4 verdict (None when it does)."""
    text = run.failure_text(spec)
    if "T4: " in text and any(w in text for w in ("leaves the", "does not resume", "raised", "non-finite")):
        return None
    return f"{spec}: its failure does not read as a T4 verdict:\n{text[-1500:]}"


def test_t4_rejects_every_wrong_recursion_and_accepts_the_correct_ones(run_suite):
    """One run, one row per subject: each wrong recursion is rejected with T4 named, each correct
    from-scratch optimizer (tests/reference_impls.py, CorrectAdam) has no FAIL or ERROR cell, the error
    contract (test_the_subject_refuses_what_torch_optim_refuses) included."""
    r = run_suite(*optimizer_args(*WRONG, *CORRECT), modules=MODULE)
    assert r.ret == 1, r.text[-3000:]
    wrong = r.verdicts({spec: {"T4"} for spec in WRONG}, accepted=CORRECT)
    wrong += [w for spec in WRONG if (w := _t4_verdict_missing(r, spec))]
    assert not wrong, "\n".join(wrong) + "\n" + r.text[-3000:]


@pytest.mark.parametrize("spec, k", WRONG_ON_SOME_DRAWS, ids=[s.rsplit(":", 1)[1] for s, _ in WRONG_ON_SOME_DRAWS])
def test_t4_rejects_a_wrong_recursion_seen_on_some_draws(run_suite, spec, k):
    r = run_suite("--optimizer", spec, "-k", k, modules=MODULE, profile="kinkcheck-selftest-thorough")
    assert r.ret != 0, r.text
    assert "T4" in r.failed_theorems(), r.text
    assert _t4_verdict_missing(r, spec) is None, r.text


def test_t4_accepts_torch_optim_under_every_family_it_covers(run_suite, tmp_path):
    specs = ",".join(f"{fam}=torch.optim:{cls}" for fam, cls in [
        ("sgd", "SGD"), ("rmsprop", "RMSprop"), ("adam", "Adam"), ("nadam", "NAdam"), ("rprop", "Rprop")])
    # torch's own deviation (docs/torch-deviations/load_state_dict_scalar_cast.py): load_state_dict casts
    # NAdam's mu_product to a float16/bfloat16 parameter's dtype; carried as an expected deviation
    xfails = tmp_path / "xfails.txt"
    xfails.write_text("T4::nadam=torch.optim:NAdam  # load_state_dict casts mu_product to the parameter dtype\n")
    r = run_suite("--optimizer", specs, "--xfails-file", str(xfails), modules=MODULE)
    assert r.ret == 0, r.text


def test_every_family_with_a_reference_has_one():
    from kinkcheck.harness.oracles.recursions import Reference, reference_class
    for name, record in FAMILIES.items():
        if record.has_reference:
            assert issubclass(reference_class(name), Reference), name


@pytest.mark.parametrize("name", [n for n, f in FAMILIES.items() if f.torch_class])
def test_family_record_matches_the_torch_constructor(name):
    """Every hyperparameter a record names is accepted by its torch.optim class's constructor, and
    every constructor argument is drawn, fixed, or listed as not drawn with a reason."""
    record = FAMILIES[name]
    cls = getattr(torch.optim, record.torch_class, None)
    if cls is None:
        pytest.skip(f"torch {torch.__version__} has no torch.optim.{record.torch_class}")
    accepted = set(inspect.signature(cls).parameters) - {"params"}
    named = set(record.contract_space()) | set(record.fixed) | set(record.decay) | set(record.schedulable)
    assert named <= accepted, f"{name}: torch.optim.{record.torch_class} does not take {sorted(named - accepted)}"
    explained = named | set(IMPLEMENTATION_FLAGS) | {n for n, _ in record.not_drawn}
    assert accepted <= explained, (f"{name}: torch.optim.{record.torch_class} takes {sorted(accepted - explained)}, "
                                   "which the record neither draws, fixes nor explains")
    assert all(reason for _, reason in record.not_drawn + record.constructor_only + record.limits), name


def test_every_contract_range_builds_the_torch_class():
    """Each value in each range of each record constructs its torch.optim class (valid ranges)."""
    from kinkcheck.harness.subjects.families import Choice, Integers, Interval, Pair

    def first(spec):
        return (spec.values[0] if isinstance(spec, Choice) else spec.low if isinstance(spec, (Interval, Integers))
                else (first(spec.first), first(spec.second)))

    def values(spec):
        if isinstance(spec, Pair):
            return [(a, b) for a in values(spec.first) for b in values(spec.second)]
        return list(spec.values) if isinstance(spec, Choice) else [spec.low, spec.high]

    for name, record in FAMILIES.items():
        cls = getattr(torch.optim, record.torch_class or "", None)
        if cls is None:
            continue
        p = torch.zeros(2, 2, requires_grad=True)
        base = {hp: first(spec) for hp, spec in record.contract_space().items()}
        for hp, spec in record.contract_space().items():
            for value in values(spec):
                cls([p], **{**base, **record.fixed, hp: value})


def test_t4_rejects_an_optimizer_that_accepts_what_torch_optim_refuses(run_suite):
    """The error contract's tooth: LenientAdam (correct iterates) keeps a parameter listed in two groups
    once, takes a negative lr as its magnitude and ignores a state_dict that does not match its groups;
    torch's own Adam refuses all three and passes."""
    spec = f"adam={BROKEN}:LenientAdam"
    r = run_suite(*optimizer_args(spec, "adam=torch.optim:Adam"), "-k", "refuses", modules=MODULE)
    assert r.ret == 1, r.text[-3000:]
    wrong = r.verdicts({spec: {"T4"}}, accepted=["adam=torch.optim:Adam"])
    assert not wrong, "\n".join(wrong) + "\n" + r.text[-3000:]
    for accepted in ("the same parameter in two parameter groups", "load_state_dict of a state_dict", "< 0"):
        assert accepted in r.text, r.text[-3000:]
