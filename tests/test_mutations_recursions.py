"""Mutation self-tests for T4 (theorems/test_reference_recursions.py): each deliberately wrong
optimizer is rejected, a correct from-scratch Adam and the torch.optim classes are accepted."""
import pytest


MODULE = ("test_reference_recursions.py",)
BROKEN = "tests.broken.recursions"


@pytest.mark.parametrize("spec", [
    "adam=tests.broken.recursions:OffByOneAdam",  # bias correction 1 - beta^(t+1)
    "adam=tests.broken.recursions:EpsInsideSqrtAdam",  # sqrt(v_hat + eps)
    "adam=tests.broken.recursions:DoubledStepAdam",  # 2 lr
    "rmsprop=tests.broken.recursions:SwappedRMSprop",  # (1 - alpha) v + alpha g^2
    "nesterov=tests.broken.recursions:NesterovIgnoredSGD",  # heavy ball instead of Nesterov
    "momentum=tests.broken.recursions:DoubledStepSGD",  # 2 lr
])
def test_t4_rejects_a_wrong_recursion(run_suite, spec):
    r = run_suite("--optimizer", spec, modules=MODULE)
    assert r.ret != 0, r.text
    assert "T4" in r.failed_theorems(), r.text
    assert "leaves the" in r.text  # the failure says which recursion was left, and where


def test_t4_accepts_a_correct_from_scratch_adam(run_suite):
    r = run_suite("--optimizer", f"adam={BROKEN}:CorrectAdam", modules=MODULE)
    assert r.ret == 0, r.text
    assert "T4" not in r.failed_theorems()


def test_t4_accepts_torch_optim_under_every_family_it_covers(run_suite):
    specs = ",".join(f"{fam}=torch.optim:{cls}" for fam, cls in [
        ("sgd", "SGD"), ("rmsprop", "RMSprop"), ("adam", "Adam"), ("nadam", "NAdam"), ("rprop", "Rprop")])
    r = run_suite("--optimizer", specs, modules=MODULE)
    assert r.ret == 0, r.text


def test_every_family_with_a_reference_has_one():
    from kinkcheck.harness.oracles.recursions import Reference, reference_class
    from kinkcheck.harness.subjects.families import FAMILIES
    for name, record in FAMILIES.items():
        if record.has_reference:
            assert issubclass(reference_class(name), Reference), name
