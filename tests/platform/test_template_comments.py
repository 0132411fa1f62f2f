"""A Django ``{# … #}`` comment ends at the end of its line: one spread over two lines is shown
to the user as text (the console's sidebar showed one). Multi-line comments use
``{% comment %}``; this test finds any that do not."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_template_comment_spans_two_lines():
    offenders = []
    for path in sorted(ROOT.glob("**/templates/**/*.html")):
        if ".venv" in path.parts or "node_modules" in path.parts:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            opened = line.rfind("{#")
            if opened != -1 and "#}" not in line[opened:]:
                offenders.append(f"{path.relative_to(ROOT)}:{n}")
    assert offenders == [], "multi-line {# #} comments (use {% comment %}):\n" + "\n".join(offenders)
