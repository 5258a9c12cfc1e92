"""T4 with sparse gradients — the usage contract of an ``nn.Embedding(sparse=True)`` parameter (issue #20 item 1).

Contract (torch.optim's documented algorithms): torch.optim.SGD (plain, heavy ball, Nesterov) and
torch.optim.Adagrad accept sparse COO gradients, as ``nn.Embedding(sparse=True)`` produces them: the rows a
batch touched, a row repeated once per occurrence (duplicate indices), not coalesced. Read in torch 2.13's
source (sgd.py, adagrad.py ``_make_sparse``): both coalesce first (duplicate rows are summed), SGD then adds
the sparse step to the parameter and keeps a sparse momentum buffer, Adagrad updates only the touched entries
of ``sum`` and of the parameter. For a touched row that is exactly the dense recursion fed the densified
gradient; for an untouched one the dense recursion adds g^2 = 0 to ``sum`` and steps by 0 / (sqrt(sum) + eps)
= 0, so the two agree everywhere (measured: no deviation beyond float64 rounding). weight_decay with a sparse
gradient raises in torch ("weight_decay option is not compatible with sparse gradients"): not drawn here.
So the claim checked: after every step the embedding's iterate (float64) is the family's float64 reference fed
the densified gradient, within gamma_{16 K}(u) (|theta_0| + path) (``contract_runs.rounding_bound``), and a
dense float32 parameter in the same group follows its own reference within the float32 bound -- for
coalesced and uncoalesced gradients with duplicate rows. torch.optim.SparseAdam is not a built-in subject:
its recursion (Adam on the touched entries only, moments of untouched entries not decayed) is no family's
record, and it takes only sparse gradients, so no other theorem could run on it.
"""
import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

from kinkcheck.harness.core.assertions import assert_reached
from kinkcheck.harness.core.examples import scaled
from kinkcheck.harness.core.guard import Guarded
from kinkcheck.harness.core.outcomes import NotSupported
from kinkcheck.harness.core.records import figure
from kinkcheck.harness.oracles.contract_runs import _view, accepted, default_dtype, rounding_bound
from kinkcheck.harness.oracles.recursions import reference_for
from kinkcheck.strategies.optimizers import contract_hyperparameters

SPARSE_FAMILIES = ("sgd", "momentum", "nesterov", "adagrad")  # torch.optim.SGD and Adagrad take sparse gradients
CITE = "T4 (contract: torch.optim.SGD/Adagrad with a sparse gradient follow the documented recursion)"


def _sparse_gradient(gen, rows, dim, touched, coalesced):
    """An nn.Embedding(sparse=True)-style gradient: ``touched`` row indices (at least one repeated), one value
    row per occurrence; its dense sum (duplicates added)."""
    index = torch.randint(0, rows, (touched,), generator=gen)
    index = torch.cat([index, index[:1]])  # a duplicate row, always
    values = torch.randn(index.numel(), dim, generator=gen, dtype=torch.float64)
    grad = torch.sparse_coo_tensor(index[None], values, (rows, dim), check_invariants=True)
    if coalesced:
        grad = grad.coalesce()
    dense = torch.zeros(rows, dim, dtype=torch.float64).index_add_(0, index, values)
    return grad, dense


@pytest.mark.theorem("T4", families=SPARSE_FAMILIES)
@pytest.mark.filterwarnings("ignore:Sparse invariant checks are implicitly disabled")  # torch's Adagrad's own tensors
@settings(max_examples=scaled(4))
@given(data=st.data(), rows=st.sampled_from([3, 8, 17]), dim=st.sampled_from([1, 4, 9]),
       touched=st.integers(1, 6), coalesced=st.booleans(), steps=st.integers(2, 5), seed=st.integers(0, 2**20))
def test_sparse_embedding_gradients_follow_the_family_recursion(optimizer_subject, data, rows, dim, touched,
                                                                 coalesced, steps, seed):
    """[GM] Lemma 4.8, Lemma 4.9; [CUT] eqs. (22)-(30) (the family recursions, here under torch.optim's
    usage contract): Contract (torch.optim.SGD/Adagrad, sparse gradients): an embedding parameter (float64) with
    sparse COO
    gradients -- duplicate rows, coalesced or not -- in one group with a dense float32 parameter: after every
    step each follows its family's float64 reference fed the densified gradient (duplicates summed), within
    the rounding bound gamma_{16 K}(u) (|theta_0| + path) of its own dtype."""
    for axis, reason in optimizer_subject.skip_axes:  # declared (torch's fused paths refuse sparse by design)
        if axis == "sparse gradients":
            figure(f"contract axis not run: {axis}", reason)
            raise NotSupported(optimizer_subject.label, [axis])
    family = optimizer_subject.family
    hp = data.draw(contract_hyperparameters(family), label="hyperparameters")
    hp["weight_decay"] = 0.0  # torch raises for weight_decay with a sparse gradient
    ref_hp, not_taken = accepted(optimizer_subject, hp)
    gen = torch.Generator().manual_seed(seed)
    emb0 = torch.randn(rows, dim, generator=gen, dtype=torch.float64)
    dense0 = torch.randn(5, generator=gen, dtype=torch.float64).to(torch.float32)
    emb = emb0.clone().requires_grad_(True)
    dense = dense0.clone().requires_grad_(True)
    refs = [reference_for(family, emb.detach(), ref_hp), reference_for(family, dense.detach(), ref_hp)]
    theta0 = [emb0.clone(), dense0.to(torch.float64)]
    paths = [torch.zeros_like(t) for t in theta0]
    worst, moved = 0.0, False
    with default_dtype(torch.float64):
        optimizer = optimizer_subject.build([emb, dense], **_view(optimizer_subject, ref_hp))
        for k in range(1, steps + 1):
            sparse, dense_equivalent = _sparse_gradient(gen, rows, dim, touched, coalesced)
            dense_grad = torch.randn(5, generator=gen, dtype=torch.float64).to(torch.float32)
            emb.grad, dense.grad = sparse, dense_grad.clone()
            Guarded(optimizer_subject, optimizer).step(k)
            for j, (leaf, ref, g, dtype) in enumerate(zip((emb, dense), refs, (dense_equivalent, dense_grad),
                                                          (torch.float64, torch.float32))):
                before = ref.theta.clone()
                ref.step(g.to(torch.float64), ref_hp)
                paths[j] += (ref.theta - before).abs()
                moved = moved or bool((ref.theta != before).any())
                bound = rounding_bound(dtype, k) * (theta0[j].abs() + paths[j])
                dev = (leaf.detach().to(torch.float64) - ref.theta).abs()
                ratio = torch.where(dev == 0, torch.zeros_like(dev), dev / bound.clamp_min(1e-300))
                i = int(ratio.argmax())
                worst = max(worst, float(ratio.reshape(-1)[i]))
                what = "the sparse-gradient embedding (float64)" if j == 0 else "the dense float32 parameter"
                assert float(ratio.reshape(-1)[i]) <= 1.0, (
                    f"{CITE}: {optimizer_subject.label} leaves the {family} recursion with a sparse gradient "
                    f"({'coalesced' if coalesced else 'uncoalesced'}, duplicate rows) after step {k}: {what}, element "
                    f"{i}: subject {float(leaf.detach().reshape(-1)[i])!r}, reference fed the densified gradient "
                    f"{float(ref.theta.reshape(-1)[i])!r} (deviation {float(dev.reshape(-1)[i]):.3g} > the rounding "
                    f"bound {float(bound.reshape(-1)[i]):.3g}); hyperparameters {ref_hp}")
    figure("sparse gradients: max deviation / bound", worst, keep="max")
    event(f"coalesced: {coalesced}")
    for name in not_taken:
        event(f"constructor does not take {name}")
    assert_reached(moved, f"a sparse-gradient step that moves ({optimizer_subject.label})")
