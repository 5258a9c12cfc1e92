"""The spec syntax's one splitter, shared by the plugin's option parsing and the subject specs (plain
Python: importing it imports neither torch nor the rest of the harness)."""
from __future__ import annotations


def split_top_level(text: str, separators: str) -> list[str]:
    """Split ``text`` at any character of ``separators`` outside brackets and quotes, so that
    ``adam=m:A?betas=(0.9, 0.99)`` stays whole. Parts are returned as written (not stripped)."""
    parts, depth, quote, current = [], 0, None, []
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch in separators and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts
