"""T4's sparse-gradient test (#20 item 1) rejects a sparse path that drops repeated rows and one that does not
coalesce before squaring (``tests/broken/sparse.py``); torch's own SGD and Adagrad pass. One subprocess."""
from tests.conftest import optimizer_args

REJECTED = ["sgd=tests.broken.sparse:LastWriteSGD", "adagrad=tests.broken.sparse:UncoalescedAdagrad"]
ACCEPTED = ["sgd=torch.optim:SGD", "momentum=torch.optim:SGD", "adagrad=torch.optim:Adagrad"]


def test_mishandled_duplicate_rows_are_rejected_and_torch_passes(run_suite):
    run = run_suite(*optimizer_args(*REJECTED, *ACCEPTED), modules=("test_sparse_gradients.py",))
    wrong = run.verdicts({spec: {"T4"} for spec in REJECTED}, accepted=ACCEPTED)
    assert not wrong, "\n".join(wrong) + "\n" + run.text[-3000:]
    for spec in REJECTED:
        assert "with a sparse gradient" in run.failure_text(spec), run.failure_text(spec)[-2000:]
