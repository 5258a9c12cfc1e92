"""Self-tests of T9 (theorems/test_adam_nonvanishing_lr.py): the harness's step bound and exact
batch means, and the broken Adam subjects each T9 contrast must reject (tests/broken/adam_chains.py)."""
import math

import pytest
import torch

from kinkcheck.harness.experiments.adam_chains import adam_step_bound, sample_batch_mean
from tests.conftest import optimizer_args

T9 = ("test_adam_nonvanishing_lr.py",)


def test_step_bound_is_attained_by_the_extremal_stream():
    """B_n is the Cauchy–Schwarz bound, attained by g_k ∝ (β₁/β₂)^{n−k} (not loose by construction);
    B_1 = 1 (Adam's first step is ±γ)."""
    assert math.isclose(adam_step_bound(0.9, 0.999, 1), 1.0, rel_tol=1e-15)
    for b1, b2, n in [(0.0, 0.5, 7), (0.5, 0.9, 20), (0.9, 0.999, 50), (0.9, 0.5, 12)]:
        g = [(b1 / b2) ** (n - k) for k in range(1, n + 1)]
        m = sum((1 - b1) * b1 ** (n - k) * gk for k, gk in zip(range(1, n + 1), g))
        v = sum((1 - b2) * b2 ** (n - k) * gk * gk for k, gk in zip(range(1, n + 1), g))
        ratio = (m / (1 - b1**n)) / math.sqrt(v / (1 - b2**n))
        assert math.isclose(ratio, adam_step_bound(b1, b2, n), rel_tol=1e-12), (b1, b2, n)


@pytest.mark.parametrize("law,mean,var", [("gaussian", 0.0, 1.0), ("exponential", 1.0, 1.0), ("two-point", 0.5, 0.25)])
def test_exact_batch_means_have_the_right_moments(law, mean, var):
    """sample_batch_mean draws the mean of J samples: mean E X, variance Var X / J (checked at J = 100
    on 2^16 draws, 6 standard errors)."""
    x = sample_batch_mean(law, 100, (1 << 16,), torch.Generator().manual_seed(3))
    se_mean = math.sqrt(var / 100 / x.numel())
    assert abs(float(x.mean()) - mean) < 6 * se_mean
    assert abs(float(x.var()) / (var / 100) - 1) < 0.05


BROKEN = [
    ("HiddenDecayAdam", "test_adam_subject_chains_do_not_converge", False),  # lr/n² also breaks the γ_n-scaled floor
    ("ScheduleIgnoringAdam", "test_adam_subject_decaying_learning_rate_contrast", True),
]


def test_t9_rejects_broken_adam_in_its_own_property_and_accepts_torch_adam(run_suite):
    """One run, one row per subject: each broken Adam fails the T9 property written for it (and, where
    ``only``, no other one); torch.optim.Adam has no FAIL or ERROR cell."""
    specs = {f"adam=tests.broken.adam_chains:{broken}": (test, only) for broken, test, only in BROKEN}
    r = run_suite(*optimizer_args(*specs, "adam=torch.optim:Adam"), "-k", "subject", modules=T9)
    assert r.ret == 1, r.text[-3000:]
    wrong = r.verdicts({spec: {"T9"} for spec in specs}, accepted=["adam=torch.optim:Adam"])
    for spec, (test, only) in specs.items():
        failed = r.failing_tests(spec)
        if not ((failed == {test}) if only else (test in failed)):
            wrong.append(f"{spec}: failing {sorted(failed)}, expected {'only ' if only else ''}{test}")
    assert not wrong, "\n".join(wrong) + "\n" + r.text[-3000:]
