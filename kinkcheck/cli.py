"""The ``kinkcheck`` command: ``--version``, ``theorems`` (the theorem catalogue), ``audit``
(ReLU derivatives at their kinks), ``report`` (figures from a JSON report)."""
from __future__ import annotations

import argparse
import sys

from kinkcheck import __version__, catalog, figures
from kinkcheck.harness.audit import command as audit  # torch is imported only when `audit` runs


def cmd_theorems(args) -> int:
    """Print the catalogue: a table (id, title, gates, precision class, source) or, with --markdown, all of
    it as Markdown (docs/theorems.md is exactly that output)."""
    sys.stdout.write(catalog.markdown() if args.markdown else catalog.text())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kinkcheck", description=__doc__)
    parser.add_argument("--version", action="version", version=f"kinkcheck {__version__}")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("theorems", help="the theorem catalogue: what each ID claims, its tests, gates, precision")
    p.add_argument("--markdown", action="store_true",
                   help=f"print the full catalogue as Markdown ({catalog.REGENERATE})")
    p.set_defaults(func=cmd_theorems)
    audit.add_parser(sub)
    figures.add_parser(sub)  # matplotlib is imported only when `report` runs
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):  # no subcommand: a usage error, as argparse's own
        parser.print_help(sys.stderr)
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
