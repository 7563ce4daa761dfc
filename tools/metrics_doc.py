"""Rewrite the KPI tables of docs/metrics.md from the KPI registry (dcsim/metrics/registry.py).

    python tools/metrics_doc.py          # rewrite docs/metrics.md in place
    python tools/metrics_doc.py --check  # exit 1 if docs/metrics.md is not what the registry gives

The prose around the tables is written by hand; each table sits between the markers
``<!-- KPI table SECTION: ... -->`` and ``<!-- end of generated table -->``.
tests/test_metrics_docs.py runs the check.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dcsim.metrics.registry import render_doc

DOC = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"


def main(argv: list[str]) -> int:
    text = DOC.read_text()
    try:
        new = render_doc(text)
    except ValueError as e:
        print(f"metrics_doc: {e}", file=sys.stderr)
        return 2
    if "--check" in argv:
        if new != text:
            print(f"metrics_doc: {DOC} differs from the registry; run python tools/metrics_doc.py", file=sys.stderr)
            return 1
        return 0
    if new != text:
        DOC.write_text(new)
        print(f"metrics_doc: rewrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
