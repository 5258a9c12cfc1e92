"""Teeth for the low-precision properties (issue #15 item 5): subjects right in float64/float32 and
wrong only at a skipped scaled step or only in a low precision are rejected; correct ones pass."""
from __future__ import annotations

MODULE = ("test_mixed_precision.py",)


def test_a_skipped_scaled_step_that_advances_state_is_rejected(run_suite):
    run = run_suite("--optimizer", "adam=tests.broken.lowprecision:AmpAdamAdvancesStepOnSkip",
                    "-k", "skipped_scaled", modules=MODULE)
    assert run.ret == 1, run.text[-3000:]
    assert run.failed_theorems() == {"T3"}, run.text[-3000:]
    assert "advanced its state at the skipped (found_inf) step" in run.text


def test_a_correct_amp_aware_optimizer_passes(run_suite):
    run = run_suite("--optimizer", "adam=tests.broken.lowprecision:AmpAdamSkipsCorrectly", modules=MODULE)
    assert run.ret == 0, run.text[-3000:]
