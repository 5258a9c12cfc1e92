"""``kinkcheck report --merge``: one conformance table from the JSON reports of the shards of a run
(``pytest ... --splits N --group i --report-json shard-i.json`` on N CI runners)."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from kinkcheck.plugin import report


def run(args) -> int:
    try:
        payloads = [json.loads(Path(p).read_text()) for p in args.merge]
        records, meta = report.merge(payloads)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        print(f"kinkcheck report --merge: {exc}", file=sys.stderr)
        return 2
    header = f"{meta.get('header', 'kinkcheck')} — merged from {meta['shards']} shards"
    dtype = meta.get("dtype")
    width = shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() else None
    print(report.terminal_table(records, header, dtype, width=width, figures=bool(getattr(args, "verbose", 0))))
    if args.json_out:
        Path(args.json_out).write_text(report.json_report(records, meta))
    if args.md_out:
        Path(args.md_out).write_text(report.markdown_table(records, header, dtype))
    return int(meta["exitstatus"] != 0)
