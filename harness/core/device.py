"""Device and dtype selection, and seeding.

The suite runs every property on the device chosen with ``--device`` (default: cpu)
and in the dtype chosen with ``--dtype`` (default: float64, as THEOREMS.md assumes).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}


# The 16-bit dtypes: an update below half an ulp of O(1) parameters (2^-9 in bfloat16) rounds away, and
# float16's range ends at 65504 -- where several claims are measured or scoped rather than asserted.
HALF_PRECISION = (torch.float16, torch.bfloat16)


@dataclass(frozen=True)
class Placement:
    """Where tensors of a run live: a device and a default floating dtype."""

    device: torch.device
    dtype: torch.dtype

    def tensor(self, data, dtype: torch.dtype | None = None) -> torch.Tensor:
        return torch.as_tensor(data, dtype=dtype or self.dtype, device=self.device)

    def generator(self, seed: int) -> torch.Generator:
        return seeded_generator(seed, self.device)

    @property
    def half_precision(self) -> bool:
        """The run's dtype is float16 or bfloat16 (``HALF_PRECISION``)."""
        return self.dtype in HALF_PRECISION


def resolve_device(name: str | None) -> torch.device:
    """``None``/"cpu" -> cpu; "cuda" (or "cuda:N") only when CUDA is present."""
    name = name or "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name}: only cpu and cuda are supported") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {name}: only cpu and cuda are supported")
    return device


def resolve_dtype(name: str | None) -> torch.dtype:
    name = name or "float64"
    try:
        return DTYPES[name]
    except KeyError:
        raise ValueError(f"--dtype {name}: choose one of {', '.join(DTYPES)}") from None


def placement(device: str | None = None, dtype: str | None = None) -> Placement:
    return Placement(resolve_device(device), resolve_dtype(dtype))


def seeded_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A private generator: properties never touch the global RNG state."""
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed) % (2**63))
    return gen

