"""Issue 11: "no import inside a function to dodge a cycle, unless a comment says why it cannot
be avoided". Every import inside a function of the app code (not tests, not migrations) must have
a comment on the line above it (or above the run of imports it belongs to) saying why it stays
there; the rest belong at the top of the module. This test reads the code only (no database)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
APPS = (
    "blazon",
    "directory",
    "worklist",
    "vault",
    "provisioning",
    "authn",
    "passwords",
    "security",
    "sso",
    "oidc",
    "requests_workflow",
    "sod",
    "scim",
)
MOVING: set[str] = set()  # modules another change is moving now (none)


def _explained(lines: list[str], node: ast.stmt, explained: set[int]) -> bool:
    """A comment on the line above, a comment at the end of the line that is more than a
    ``noqa``, or the import right above it (same run) is explained."""
    line = lines[node.lineno - 1]
    if "#" in line and line.split("#", 1)[1].strip() and not line.split("#", 1)[1].strip().startswith("noqa"):
        return True
    above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
    return above.startswith("#") or (node.lineno - 1) in explained


def unexplained_imports(root: Path = REPO) -> list[str]:
    found = []
    for app in APPS:
        for path in sorted((root / app).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if "migrations" in path.parts or relative in MOVING:
                continue
            text = path.read_text()
            lines = text.splitlines()
            explained: set[int] = set()
            for function in ast.walk(ast.parse(text)):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                imports = [n for n in ast.walk(function) if isinstance(n, ast.Import | ast.ImportFrom)]
                for node in sorted(imports, key=lambda n: n.lineno):
                    if _explained(lines, node, explained):
                        explained.add(node.end_lineno or node.lineno)
                    else:
                        found.append(f"{relative}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    return sorted(set(found))


def test_every_import_inside_a_function_says_why():
    found = unexplained_imports()
    assert not found, (
        "Imports inside functions without a comment saying why they cannot be at the top of the "
        "module (move them up, or say why on the line above):\n" + "\n".join(found)
    )


def test_the_check_sees_an_unexplained_import(tmp_path):
    app = tmp_path / "blazon"
    app.mkdir()
    (app / "m.py").write_text(
        "def f():\n"
        "    import json\n"
        "    return json\n"
        "def g():\n"
        "    # deferred: a reason\n"
        "    import json\n"
        "    import os\n"
        "    return json, os\n"
    )
    assert unexplained_imports(tmp_path) == ["blazon/m.py:2: import json"]
