"""Measuring the derivative every spelling of ReLU returns at its kink (T1 (c), the framework audit).

[GM] Lemma 4.11 fixes the convention the theorems use: ReLU'(x) = 1_{x>0}, so ReLU'(0) = 0 -- the
derivative at a kink is the slope of the *flat* side. For each spelling, dtype and execution mode
this module measures the derivative at the kink approached as +0.0 and as -0.0, and at NaN (NaN
gating: does the backward pass the incoming gradient through a NaN input?), and marks the spelling
conforming when both kink derivatives are exactly 0.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import torch
import torch.nn.functional as F

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64}
MODES = ("eager", "func.grad", "func.vjp", "func.jvp")
COMPILE_MODE = "compile"


@dataclass(frozen=True)
class Spelling:
    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    kink: float = 0.0  # where the kink is; the flat side is the one the convention picks


def _zeros(x):
    return torch.zeros_like(x)


SPELLINGS: tuple[Spelling, ...] = (
    Spelling("relu", torch.relu),
    Spelling("relu_", lambda x: torch.relu_(x.clone())),
    Spelling("F.relu", F.relu),
    Spelling("nn.ReLU", torch.nn.ReLU()),
    Spelling("threshold(x,0,0)", lambda x: F.threshold(x, 0.0, 0.0)),
    Spelling("clamp(x,min=0)", lambda x: torch.clamp(x, min=0)),
    Spelling("clamp_min(x,0)", lambda x: torch.clamp_min(x, 0)),
    Spelling("maximum(x,0)", lambda x: torch.maximum(x, _zeros(x))),
    Spelling("maximum(0,x)", lambda x: torch.maximum(_zeros(x), x)),
    Spelling("fmax(x,0)", lambda x: torch.fmax(x, _zeros(x))),
    Spelling("where(x>0,x,0)", lambda x: torch.where(x > 0, x, _zeros(x))),
    Spelling("(x+|x|)/2", lambda x: (x + x.abs()) / 2),
    Spelling("x*(x>0)", lambda x: x * (x > 0)),
    Spelling("leaky_relu(x,0)", lambda x: F.leaky_relu(x, 0.0)),
    Spelling("elu(x,0)", lambda x: F.elu(x, alpha=0.0)),
    Spelling("hardtanh(x,0,inf)", lambda x: F.hardtanh(x, 0.0, math.inf)),
    Spelling("relu6@0", F.relu6, 0.0),
    Spelling("relu6@6", F.relu6, 6.0),
)


@dataclass(frozen=True)
class Measurement:
    spelling: str
    kink: float
    dtype: str
    mode: str
    d_pos: str  # derivative at the kink reached as +0.0 (kink + 0.0 for relu6@6), as repr(float)
    d_neg: str  # ... as -0.0 (for a kink k != 0: k itself, there is one zero only)
    d_nan: str  # derivative at NaN input ("nan": the gradient passes; "0.0": gated)
    conforming: bool

    def key(self) -> tuple[str, str, str]:
        return (self.spelling, self.dtype, self.mode)

    def as_dict(self) -> dict:
        return asdict(self)


def _inputs(kink: float, dtype: torch.dtype, device) -> torch.Tensor:
    return torch.tensor([kink + 0.0, -0.0 if kink == 0 else kink, math.nan], dtype=dtype, device=device)


def _derivative(fn, x: torch.Tensor, mode: str) -> torch.Tensor:
    """Elementwise derivative of an elementwise ``fn`` at every entry of ``x``."""
    if mode in ("eager", COMPILE_MODE):
        f = torch.compile(fn, backend="inductor", dynamic=False) if mode == COMPILE_MODE else fn
        leaf = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(f(leaf).sum(), leaf)
        return grad
    if mode == "func.grad":
        return torch.func.grad(lambda z: fn(z).sum())(x)
    if mode == "func.vjp":
        out, pullback = torch.func.vjp(fn, x)
        return pullback(torch.ones_like(out))[0]
    if mode == "func.jvp":
        return torch.func.jvp(fn, (x,), (torch.ones_like(x),))[1]
    raise ValueError(f"unknown mode {mode!r}")


def _text(value: float) -> str:
    return repr(float(value))


def measure_one(spelling: Spelling, dtype: str, mode: str, device="cpu") -> Measurement:
    x = _inputs(spelling.kink, DTYPES[dtype], device)
    try:
        d = [float(v) for v in _derivative(spelling.fn, x, mode).to(torch.float64).cpu()]
    except Exception as exc:  # an op without this dtype/mode: reported, not conforming
        err = f"error: {type(exc).__name__}"
        return Measurement(spelling.name, spelling.kink, dtype, mode, err, err, err, False)
    return Measurement(spelling.name, spelling.kink, dtype, mode, _text(d[0]), _text(d[1]), _text(d[2]),
                       d[0] == 0.0 and d[1] == 0.0)


def measure(spellings=SPELLINGS, dtypes=tuple(DTYPES), modes=MODES, device="cpu") -> list[Measurement]:
    return [measure_one(s, dt, m, device) for s in spellings for dt in dtypes for m in modes]


def stamp(device="cpu") -> dict:
    return {"torch": torch.__version__, "device": str(device)}
