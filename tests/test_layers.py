"""The layers depend one way: campaigns on providers and dlt, providers on dlt, dlt on
neither (DESIGN.md). Read from the source, so that a new import cannot slip in."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NEVER = {"dlt": {"providers", "campaigns"}, "providers": {"campaigns"}}


def imported_apps(app: str) -> dict[str, set[str]]:
    """Each module of an app (migrations aside) and the top-level packages it imports."""
    found = {}
    for path in (ROOT / app).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                # A dotted path in a string imports too: include("campaigns.api.urls").
                if re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", node.value):
                    names.add(node.value.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("app", sorted(NEVER))
def test_a_layer_never_imports_the_layers_above_it(app):
    wrong = {
        module: sorted(names & NEVER[app])
        for module, names in imported_apps(app).items()
        if names & NEVER[app]
    }
    assert wrong == {}


SQL_HELPERS = ("quote_name", "adapt_datetimefield_value", "has_native_uuid_field")


@pytest.mark.parametrize("app", ["campaigns", "dlt", "providers"])
def test_hand_written_sql_quotes_and_converts_through_the_one_helper_module(app):
    # Quoting, parameter forms and the bulk writers live in smsgateway/sql.py; a module
    # that does its own has started a second set of rules.
    wrong = {
        str(path.relative_to(ROOT)): [name for name in SQL_HELPERS if name in path.read_text()]
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts
    }
    assert {module: names for module, names in wrong.items() if names} == {}
