"""Self-tests of T2(d) (constructed revival at momentum 0.9) and of the out-of-scope outcome of
T2/T3 under decay (the displacement is measured, and must be > 0 in float64)."""
from kinkcheck.harness.experiments.revival import constructed_revival_prediction

T2 = ("test_inactive_neuron_invariance.py",)
T3 = ("test_frozen_coordinates.py",)


def test_closed_form_dies_then_revives_only_with_momentum():
    """The constructed case (harness/experiments/revival.py): with momentum 0.9 the neuron is dead
    after step 1 and active after step 3 (momentum) / 2 (nesterov); with momentum 0 never again."""
    assert [d for *_, d in constructed_revival_prediction(0.9, False, 4)] == [True, True, False, False]
    assert [d for *_, d in constructed_revival_prediction(0.9, True, 3)] == [True, False, False]
    assert all(d for *_, d in constructed_revival_prediction(0.0, False, 6))


def test_t2d_rejects_momentum_that_forgets_its_buffer(run_suite):
    r = run_suite("--optimizer", "momentum=tests.broken.revival_decay:ZeroGradResetsMomentumSGD",
                  "-k", "revive or never_moves or freezes", "-rA", modules=T2)
    assert r.ret != 0 and "T2" in r.failed_theorems(), r.text[-3000:]
    failed = {l.split("::")[1].split("[")[0] for l in r.text.splitlines() if l.startswith("FAILED") and "::" in l}
    assert failed == {"test_momentum_can_revive_a_neuron_that_died_mid_training"}, (failed, r.text[-3000:])


def test_t2d_accepts_torch_momentum(run_suite):
    r = run_suite("--optimizer", "momentum=torch.optim:SGD", "-k", "revive", modules=T2)
    assert r.ret == 0, r.text[-3000:]


def test_decay_is_reported_out_of_scope_with_its_displacement(run_suite):
    for modules, k in ((T2, "never_moves or freezes"), (T3, "weight_decay or never_move")):
        r = run_suite("--optimizer", "sgd=tests.broken.revival_decay:ForcedDecaySGD", "-k", k, "-rs", modules=modules)
        assert r.ret == 0, r.text[-3000:]
        assert "moved by up to" in r.text and "moved by up to 0 " not in r.text, r.text[-3000:]


def test_decay_that_moves_nothing_is_rejected(run_suite):
    for modules, k, theorem in ((T2, "never_moves or freezes", "T2"), (T3, "weight_decay", "T3")):
        r = run_suite("--optimizer", "sgd=tests.broken.revival_decay:DecayIgnoringSGD", "-k", k, modules=modules)
        assert r.ret != 0 and theorem in r.failed_theorems(), r.text[-3000:]
        assert "ignores its decay hyperparameter" in r.text, r.text[-3000:]
