"""The layout issue 15 fixed: `pbx/` is the telephony platform beneath the product, so nothing
in it imports `portal` (it reaches the product through settings: pbx/host.py) and it has no
Django models."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PBX = Path(__file__).resolve().parent.parent / "pbx"
SOURCES = sorted(p for p in PBX.rglob("*.py") if "migrations" not in p.parts)


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_the_platform_has_sources():
    assert len(SOURCES) > 10


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PBX.parent)))
def test_pbx_never_imports_portal(path):
    assert not {n for n in imported(path) if n == "portal" or n.startswith("portal.")}


def test_pbx_has_no_models():
    from django.apps import apps

    assert list(apps.get_app_config("pbx").get_models()) == []
