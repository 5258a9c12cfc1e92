"""The ``kinkcheck`` command: ``--version``, ``theorems`` (the catalog with status), ``audit``
(ReLU derivatives at their kinks), ``report`` (figures from a JSON report)."""
from __future__ import annotations

import argparse
import sys

from kinkcheck import __version__, figures
from kinkcheck.harness.audit import command as audit
from kinkcheck.catalog import CATALOG


def cmd_theorems(args) -> int:
    width = max(len(e.title) for e in CATALOG)
    print(f"{'id':4} {'theorem':{width}}  {'status':11}  source")
    for e in CATALOG:
        status = "implemented" if e.implemented else "planned"
        print(f"{e.id:4} {e.title:{width}}  {status:11}  {e.source}  (theorems/{e.module}.py)")
    print("\nrun them: pytest --pyargs kinkcheck.theorems   (or pytest theorems/ in a checkout)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kinkcheck", description=__doc__)
    parser.add_argument("--version", action="version", version=f"kinkcheck {__version__}")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("theorems", help="list the theorem catalog and what is implemented")
    p.set_defaults(func=cmd_theorems)
    audit.add_parser(sub)
    figures.add_parser(sub)  # matplotlib is imported only when `report` runs
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
