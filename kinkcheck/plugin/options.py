"""The plugin's command-line options and environment variables (no torch, no harness)."""
from __future__ import annotations

import os

FAMILY_HELP = ("sgd momentum nesterov adagrad rmsprop adadelta adam adamax nadam amsgrad radam adamw asgd "
               "rprop lbfgs adafactor muon lion generic")
ENV_VARIABLES = ("KINKCHECK_OPTIMIZERS", "KINKCHECK_ACTIVATION")


def add_options(parser) -> None:
    group = parser.getgroup("kinkcheck", "kinkcheck: the implementations under test")
    group.addoption("--optimizer", action="append", default=[], metavar="FAMILY=module:attr[:k=v,...]",
                    help="optimizer under test (repeatable); replaces the built-in torch.optim set. "
                         f"Families: {FAMILY_HELP}. Env: KINKCHECK_OPTIMIZERS (';'- or ','-separated)")
    group.addoption("--activation", default=None, metavar="module:attr",
                    help="activation used wherever the theorems say ReLU (default torch:relu). "
                         "Env: KINKCHECK_ACTIVATION")
    group.addoption("--xfails-file", default=None, metavar="PATH",
                    help="known deviations, one 'THEOREM::SUBJECT  # reason' per line")
    group.addoption("--device", default=None, help="cpu (default) or cuda")
    group.addoption("--dtype", default=None, help="default floating dtype (default float64)")
    group.addoption("--all-theorems", action="store_true", default=False,
                    help="with --optimizer/--activation: also run the theorems whose outcome does not "
                         "depend on the subject (by default a gate runs only those that do)")
    group.addoption("--kinkcheck-slow", action="store_true", default=False,
                    help="also run the slow regression checks of kinkcheck's theorems (marked slow; e.g. the "
                         "[CUT] A.1.3 experiment reproduced bit for bit); the project's CI runs them")
    group.addoption("--kinkcheck-timeout", type=float, default=None, metavar="SECONDS",
                    help="per-test timeout of kinkcheck theorems (default 600 in a gate run, none otherwise)")
    group.addoption("--report-json", default=None, metavar="PATH", help="write the conformance report as JSON")
    group.addoption("--report-md", default=None, metavar="PATH", help="write the conformance table as Markdown")


def optimizer_specs(config) -> list[str]:
    specs = list(config.getoption("--optimizer") or [])
    if not specs:
        specs = [os.environ.get("KINKCHECK_OPTIMIZERS", "")]
    return [s for s in specs if s.strip()]


def activation_spec(config) -> str | None:
    return config.getoption("--activation") or os.environ.get("KINKCHECK_ACTIVATION") or None


def is_gate(config) -> bool:
    """A run that names its own subject: only the subject-dependent theorems run by default."""
    return bool(optimizer_specs(config) or activation_spec(config)) and not config.getoption("--all-theorems")


def uses_kinkcheck_options(config) -> bool:
    return bool(optimizer_specs(config) or activation_spec(config) or config.getoption("--xfails-file")
                or config.getoption("--device") or config.getoption("--dtype")
                or config.getoption("--report-json") or config.getoption("--report-md"))


def kinkcheck_environment() -> dict[str, str]:
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith("KINKCHECK_")}
