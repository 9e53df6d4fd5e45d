"""The benchmarks are clients of the public API: they import no private name of the project."""

import ast
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))
PROJECT = ("uap_core", "uap_app", "benchmarks")


def private_names(source: str) -> list[str]:
    """Names starting with ``_`` that ``source`` imports from the project, or reaches as attributes of its modules."""
    tree = ast.parse(source)
    found, modules = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").split(".")[0] in PROJECT):
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
            found += [node.module] if any(part.startswith("_") for part in (node.module or "").split(".")) else []
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PROJECT:
                    modules.add(alias.asname or alias.name.split(".")[0])
                    found += [alias.name] if any(p.startswith("_") for p in alias.name.split(".")) else []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            found += (
                [f"{node.value.id}.{node.attr}"] if node.attr.startswith("_") and node.attr != "__version__" else []
            )
    return found


def test_the_check_finds_private_imports():
    assert private_names("from uap_core.deepfool import _deepfool_batch") == ["uap_core.deepfool._deepfool_batch"]
    assert private_names("import uap_core\nuap_core._secret()") == ["uap_core._secret"]
    assert private_names("from uap_core._private import x") == ["uap_core._private"]
    assert private_names("from torch import _C\nimport uap_core\nuap_core.deepfool") == []


@pytest.mark.parametrize("path", BENCHMARKS, ids=[p.name for p in BENCHMARKS])
def test_benchmarks_import_no_private_name(path):
    assert private_names(path.read_text()) == []
