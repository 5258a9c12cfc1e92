"""The plugin's settings: command-line options, ini settings and environment variables (no torch, no harness).

Every setting has one namespaced option (``--kinkcheck-optimizer``), one ini setting
(``kinkcheck_optimizers`` in ``pytest.ini``/``pyproject.toml``/``tox.ini``/``setup.cfg``) and, for
the subjects, an environment variable (``KINKCHECK_OPTIMIZERS``, ``KINKCHECK_ACTIVATION``).
Precedence: command line > environment variable > ini file > default. The unprefixed names of
earlier releases (``--optimizer``, ``--device``, ...) are kept as aliases; a run that uses one says so
once in its header. Every read goes through :func:`value`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

FAMILY_HELP = ("sgd momentum nesterov adagrad rmsprop adadelta adam adamax nadam amsgrad radam adamw asgd "
               "rprop lbfgs adafactor muon lion generic")
ENV_VARIABLES = ("KINKCHECK_OPTIMIZERS", "KINKCHECK_ACTIVATION")
SPEC_METAVAR = "FAMILY=module:attr[?k=v&k=v]"


@dataclass(frozen=True)
class Setting:
    name: str  # the accessor's name: value(config, name)
    flag: str  # the namespaced command-line option
    ini: str  # the ini setting
    kind: str  # "list", "string", "path", "bool", "float"
    help: str
    alias: str | None = None  # the unprefixed name of earlier releases
    env: str | None = None
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return f"kinkcheck_{self.name}"


SETTINGS = {s.name: s for s in (
    Setting("optimizers", "--kinkcheck-optimizer", "kinkcheck_optimizers", "list",
            "optimizer under test (repeatable); replaces the built-in torch.optim set. "
            f"Families: {FAMILY_HELP}. Env: KINKCHECK_OPTIMIZERS (specs separated by ',' or ';')",
            alias="--optimizer", env="KINKCHECK_OPTIMIZERS", metavar=SPEC_METAVAR),
    Setting("activation", "--kinkcheck-activation", "kinkcheck_activation", "string",
            "activation used wherever the theorems say ReLU (default torch:relu). Env: KINKCHECK_ACTIVATION",
            alias="--activation", env="KINKCHECK_ACTIVATION", metavar="module:attr"),
    Setting("device", "--kinkcheck-device", "kinkcheck_device", "string", "cpu (default) or cuda",
            alias="--device", metavar="DEVICE"),
    Setting("dtype", "--kinkcheck-dtype", "kinkcheck_dtype", "string",
            "default floating dtype: float64 (default), float32, float16, bfloat16", alias="--dtype", metavar="DTYPE"),
    Setting("xfails_file", "--kinkcheck-xfails-file", "kinkcheck_xfails_file", "path",
            "known deviations, one '[@DTYPE,DTYPE ]THEOREM::SUBJECT[::TEST]  # reason' per line",
            alias="--xfails-file", metavar="PATH"),
    Setting("report_json", "--kinkcheck-report-json", "kinkcheck_report_json", "path",
            "write the conformance report as JSON (its directory must exist)", alias="--report-json", metavar="PATH"),
    Setting("report_md", "--kinkcheck-report-md", "kinkcheck_report_md", "path",
            "write the conformance table as Markdown (its directory must exist)", alias="--report-md",
            metavar="PATH"),
    Setting("all_theorems", "--kinkcheck-all-theorems", "kinkcheck_all_theorems", "bool",
            "with an optimizer/activation under test: also run the theorems whose outcome does not depend on "
            "the subject (by default a gate runs only those that do)", alias="--all-theorems"),
    Setting("slow", "--kinkcheck-slow", "kinkcheck_slow", "bool",
            "also run the slow regression checks of kinkcheck's theorems (marked slow; e.g. the [CUT] A.1.3 "
            "experiment reproduced bit for bit); the project's CI runs them"),
    Setting("timeout", "--kinkcheck-timeout", "kinkcheck_timeout", "float",
            "hang watchdog of kinkcheck theorems (default 300 s in a gate run, none otherwise): a subject is hung "
            "when one call into it (construction, step, ...) has not returned for SECONDS -- each return re-arms "
            "it, so a slow subject is not a hung one; the suite's own code past SECONDS between calls is the "
            "suite's ERROR. After one hang the subject's remaining tests fail at once, naming the first",
            metavar="SECONDS"),
    Setting("require_coverage", "--kinkcheck-require-coverage", "kinkcheck_require_coverage", "bool",
            "fail the run (exit 1) when any test of a subject did not run because its constructor lacks a "
            "hyperparameter (n/s): for projects that want every applicable check to run"),
)}


def _taken(parser) -> set[str]:
    """Option names other plugins registered before this one (pytest's parser keeps them in groups)."""
    groups = list(getattr(parser, "_groups", ())) + [getattr(parser, "_anonymous", None)]
    return {name for g in groups if g is not None for o in getattr(g, "options", ()) for name in o.names()}


def add_options(parser) -> None:
    group = parser.getgroup("kinkcheck", "kinkcheck: the implementations under test")
    taken = _taken(parser)  # an old unprefixed name another plugin already uses is not registered as an alias
    for s in SETTINGS.values():
        kwargs = {"dest": s.dest, "default": None}
        if s.kind == "list":
            kwargs.update(action="append", metavar=s.metavar)
        elif s.kind == "bool":
            kwargs.update(action="store_true")
        else:
            kwargs.update(metavar=s.metavar, type=float if s.kind == "float" else str)
        group.addoption(s.flag, help=f"{s.help}. Ini: {s.ini}", **kwargs)
        if s.alias and s.alias not in taken:
            group.addoption(s.alias, **{**kwargs, "dest": s.dest + "_alias"}, help=f"alias of {s.flag}")
        ini_type = {"list": "linelist", "bool": "bool"}.get(s.kind, "string")
        parser.addini(s.ini, help=f"kinkcheck: {s.help} (as {s.flag})", type=ini_type, default=None)


# --------------------------------------------------------------------------- reading
def _given(config, setting: Setting):
    """The command-line value (the namespaced option and its alias together), None when not given."""
    values = [config.getoption(setting.dest, None)]
    if setting.alias:
        values.append(config.getoption(setting.dest + "_alias", None))
    if setting.kind == "list":
        merged = [v for vs in values if vs for v in vs]
        return merged or None
    if setting.kind == "bool":
        return True if any(values) else None
    return next((v for v in values if v is not None), None)


def _ini(config, setting: Setting):
    try:
        raw = config.getini(setting.ini)
    except (ValueError, KeyError):  # a config without kinkcheck's ini settings (another plugin's test)
        return None
    if raw in (None, "", []) or raw is False:
        return None
    if setting.kind == "path":
        path = Path(str(raw))
        base = config.inipath.parent if getattr(config, "inipath", None) else config.rootpath
        return str(path if path.is_absolute() else base / path)
    return raw


def _converted(setting: Setting, raw, where: str):
    if setting.kind == "list":
        items = raw if isinstance(raw, list) else [raw]
        return [part.strip() for item in items for part in split_specs(str(item)) if part.strip()]
    if setting.kind == "float":
        try:
            return float(raw)
        except (TypeError, ValueError):
            import pytest

            raise pytest.UsageError(f"kinkcheck: {where} = {raw!r} is not a number of seconds") from None
    if setting.kind == "bool" and isinstance(raw, str):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return raw


def source(config, name: str) -> str | None:
    """Where the setting's value comes from: its option as given, the environment variable, the ini
    setting, or None (the default)."""
    s = SETTINGS[name]
    if _given(config, s) is not None:
        used = [f for f, dest in ((s.flag, s.dest), (s.alias, s.dest + "_alias")) if f
                and config.getoption(dest, None) not in (None, [], False)]
        return used[0] if used else s.flag
    if s.env and os.environ.get(s.env, "").strip():
        return s.env
    if _ini(config, s) is not None:
        return f"ini setting {s.ini}"
    return None


def value(config, name: str):
    """The setting ``name`` (one of SETTINGS) for this run: command line > environment variable > ini >
    default. Lists (optimizers) are the individual specs; flags are bools; the timeout is a float or None."""
    s = SETTINGS[name]
    raw = _given(config, s)
    where = s.flag
    if raw is None and s.env and os.environ.get(s.env, "").strip():
        raw, where = os.environ[s.env], s.env
    if raw is None:
        raw, where = _ini(config, s), s.ini
    if raw is None:
        return [] if s.kind == "list" else (False if s.kind == "bool" else None)
    return _converted(s, raw, where)


def aliases_used(config) -> list[tuple[str, str]]:
    """(old name, namespaced name) of every alias given on this run's command line."""
    return [(s.alias, s.flag) for s in SETTINGS.values()
            if s.alias and config.getoption(s.dest + "_alias", None) not in (None, [], False)]


def split_specs(text: str) -> list[str]:
    """Specs in one string (KINKCHECK_OPTIMIZERS, an ini line): separated by ',' or ';' outside brackets and
    quotes, so that ``adam=m:A?betas=(0.9,0.99)`` stays whole."""
    from kinkcheck.harness.subjects.syntax import split_top_level

    return [p.strip() for p in split_top_level(text, ",;") if p.strip()]


# --------------------------------------------------------------------------- derived
def optimizer_specs(config) -> list[str]:
    return value(config, "optimizers")


def activation_spec(config) -> str | None:
    return value(config, "activation") or None


def is_gate(config) -> bool:
    """A run that names its own subject: only the subject-dependent theorems run by default."""
    return bool(optimizer_specs(config) or activation_spec(config)) and not value(config, "all_theorems")


def uses_kinkcheck_options(config) -> bool:
    return any(value(config, name) for name in ("optimizers", "activation", "xfails_file", "device", "dtype",
                                                "report_json", "report_md"))


def kinkcheck_environment() -> dict[str, str]:
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith("KINKCHECK_")}
