"""Where the declared decay law puts a coordinate whose every gradient is exactly 0 (issue #19 item 3).

Weight decay is outside [GM] Setting 4.1's hypothesis, so T2/T3 report a decaying configuration as
*out of scope* -- but a bug must not hide under that outcome: the displacement has to follow the
decay law the subject declares (its family record's ``decay_law``, or the spec's
``?decay_law=...``). For a coordinate that receives exactly 0 at every step:

- ``decoupled`` (AdamW, Lion, Muon, Adafactor): the update term is 0 (its moments stay 0) and the decay
  scales the coordinate, theta_k = theta_0 prod_j (1 - lr_j lambda_j). Rounding: per step the factor
  1 - lr lambda is formed (one rounding, in float64 by torch) and multiplies the coordinate (one
  rounding in the parameter's dtype), so theta_k carries a relative error below gamma_{2k}(u)
  (Higham, Lemma 3.1) plus gamma_{2k}(2^-53) for forming the factors in float64.
- ``coupled`` (L2 folded into the gradient): the coordinate follows the family's reference recursion
  (``recursions``) fed the gradient 0 with the same hyperparameters, which adds lambda theta. Rounding:
  T4's aggregate bound gamma_{16k}(u) (|theta_0| + sum_j |increment_j|) (contract_runs.rounding_bound's
  derivation: at most 16 rounded operations per coordinate and step).
- ``none``: no law; nothing to compare.

Never calls the subject; returns figures, and the theorem module asserts.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from kinkcheck.harness.oracles.recursions import reference_for

OPS_DECOUPLED = 2  # form 1 - lr*lambda, multiply the coordinate
OPS_COUPLED = 16  # T4's count of rounded operations per coordinate and step


def gamma(n: int, u: float) -> float:
    nu = n * u
    if nu >= 1:
        raise ValueError(f"n u = {nu:.3g} >= 1: no rounding bound")
    return nu / (1 - nu)


@dataclass
class LawComparison:
    law: str
    max_deviation: float  # max |subject - law| over the frozen coordinates
    bound: float  # the rounding bound at that coordinate's scale (max over coordinates)
    worst: str  # where, in words

    @property
    def holds(self) -> bool:
        return self.max_deviation <= self.bound


def hyperparameters_of(optimizer, family) -> dict:
    """The first parameter group's hyperparameters under the family's names (what the reference reads),
    defaults the suite did not pass included (AdamW's weight_decay=0.01)."""
    group = optimizer.param_groups[0]
    names = {"lr", *family.contract_space(), *family.fixed, *family.decay}
    return {k: v for k, v in group.items() if k in names}


def compare(subject, optimizer, initial: list[torch.Tensor], final: list[torch.Tensor],
            masks: list[torch.Tensor], steps: int) -> LawComparison | None:
    """Compare the exactly-zero-gradient coordinates (``masks``) of ``final`` with where the subject's
    declared decay law puts them after ``steps`` steps from ``initial``; None when the law is ``none``,
    or ``coupled`` for a family without a reference recursion (nothing to compare)."""
    law = subject.decay_law
    record = subject.record
    if law == "none" or (law == "coupled" and record.reference is None):
        return None
    hp = hyperparameters_of(optimizer, record)
    dtype = final[0].dtype
    u = torch.finfo(dtype).eps / 2
    worst = (0.0, 0.0, "nowhere")
    for j, (p0, p, m) in enumerate(zip(initial, final, masks)):
        if not bool(m.any()):
            continue
        theta0 = p0.detach().to(torch.float64)[m]
        got = p.detach().to(torch.float64)[m]
        if law == "decoupled":
            factor = 1.0
            for _ in range(steps):
                factor *= 1 - float(hp.get("lr", 0.0)) * float(hp.get("weight_decay", 0.0))
            expected = theta0 * factor
            bound = (gamma(OPS_DECOUPLED * steps, u) + gamma(OPS_DECOUPLED * steps, 2.0 ** -53)) * theta0.abs()
        else:
            hp_ref = {**hp, "maximize": False} if "maximize" in hp else hp  # -0 is 0: the sign cannot matter
            ref = reference_for(record.name, theta0.clone(), hp_ref)
            path = torch.zeros_like(theta0)
            previous = theta0.clone()
            for _ in range(steps):
                current = ref.step(torch.zeros_like(theta0)).clone()
                path += (current - previous).abs()
                previous = current
            expected = previous
            bound = (gamma(OPS_COUPLED * steps, u) + gamma(OPS_COUPLED * steps, 2.0 ** -53)) * (theta0.abs() + path)
        excess = (got - expected).abs() - bound
        i = int(excess.argmax())
        dev = float((got - expected).abs()[i])
        if float(excess[i]) > worst[0] - worst[1] or worst[2] == "nowhere":
            worst = (dev, float(bound[i]), f"parameter {j}, frozen coordinate {i}: subject {float(got[i])!r}, "
                                           f"the {law} law gives {float(expected[i])!r} after {steps} steps from "
                                           f"{float(theta0[i])!r} with {hp}")
    return LawComparison(law, worst[0], worst[1], worst[2])
