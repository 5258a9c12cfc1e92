"""T4's L-BFGS test (#20 item 4) rejects the reported two-loop bug and a strong-Wolfe line search with a wrong
extrapolation bound, and accepts correct implementations: torch's own and a from-scratch one
(``tests/broken/lbfgs.py``), under several seeds."""
from tests.conftest import optimizer_args

SCRATCH = "lbfgs=tests.broken.lbfgs:ScratchLBFGS"
DOUBLE = "lbfgs=tests.broken.lbfgs:DoubleScalingLBFGS"
SHORT = "lbfgs=tests.broken.lbfgs:ShortExtrapolationLBFGS"
TORCH = "lbfgs=torch.optim:LBFGS"


def test_lbfgs_applying_the_initial_scaling_twice_is_rejected_and_correct_ones_pass(run_suite):
    run = run_suite(*optimizer_args(DOUBLE, SHORT, SCRATCH, TORCH), modules=("test_lbfgs_recursion.py",))
    assert run.verdicts({DOUBLE: {"T4"}, SHORT: {"T4"}}, accepted=(SCRATCH, TORCH)) == [], run.text[-3000:]
    assert "leaves the L-BFGS two-loop recursion" in run.failure_text(DOUBLE)
    assert "with the strong-Wolfe line search" in run.failure_text(SHORT), run.failure_text(SHORT)[-2000:]


def test_the_reference_never_fails_torch_under_other_seeds(run_suite):
    for seed in ("1", "2", "3"):  # 1-5 measured when the strong-Wolfe reference was added
        run = run_suite(*optimizer_args(TORCH, SCRATCH), "--hypothesis-seed", seed,
                        modules=("test_lbfgs_recursion.py",), profile="kinkcheck-dev")
        assert run.ret == 0, run.text[-3000:]
