"""The app's layers: which modules of uap_app hold no Streamlit (each says so, and importing it loads none), no import
cycle among them, and one way for the pages to reach the app's code (``import ui``, which re-exports only what
pages use). Read from the source with ast, and imported in a fresh interpreter."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "uap_app"
PAGES = sorted((ROOT / "app_pages").glob("*.py"))
MODULES = sorted(f"uap_app.{path.stem}" for path in PACKAGE.glob("*.py") if path.stem != "__init__")
CLAIM = "No Streamlit"  # how a module's docstring says that it holds none


def tree(module: str) -> ast.Module:
    return ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text())


def claims_no_streamlit(module: str) -> bool:
    return CLAIM in (ast.get_docstring(tree(module)) or "")


def imported(module: str) -> set[str]:
    """The uap_app modules ``module`` imports anywhere in its source (inside functions too, so that an import moved
    into a function cannot hide a cycle)."""
    names = set()
    for node in ast.walk(tree(module)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = "uap_app" if node.level == 1 else node.module or ""
            if node.level == 1 and node.module:
                base = f"uap_app.{node.module}"
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}  # `from . import resources`
    return {name for name in names if name in MODULES}


def import_one_by_one(modules: list[str], watched: str) -> dict[str, bool]:
    """Import ``modules`` in this order in a fresh interpreter; for each, whether module ``watched`` was loaded once it
    was imported. The first module to load it is the one whose imports pull it in (the others were loaded before)."""
    script = (
        "import importlib, json, sys\n"
        "loaded = {}\n"
        "for module in sys.argv[2:]:\n"
        "    importlib.import_module(module)\n"
        "    loaded[module] = sys.argv[1] in sys.modules\n"
        "print(json.dumps(loaded))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", script, watched, *modules], cwd=ROOT, env=env, text=True,
                            capture_output=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def imports_streamlit(module: str) -> bool:
    """Whether ``module``'s source imports streamlit, itself or through the uap_app modules it imports."""
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        seen.add(current)
        for node in ast.walk(tree(current)):
            if isinstance(node, ast.Import) and any(alias.name.split(".")[0] == "streamlit" for alias in node.names):
                return True
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "streamlit":
                return True
        todo += [other for other in imported(current) if other not in seen]
    return False


def test_the_modules_that_say_they_hold_no_streamlit_load_none_and_the_others_import_it():
    claimed = [module for module in MODULES if claims_no_streamlit(module)]
    controllers = {"uap_app.live_controller", "uap_app.live_run", "uap_app.comparison"}
    assert {"uap_app.jobs", "uap_app.turns", "uap_app.estimates", *controllers} <= set(claimed)
    loaded = import_one_by_one(claimed, "streamlit")
    wrong = [module for module in claimed if loaded[module]]
    assert not wrong, f"these say they hold no Streamlit, yet importing them loads it: {wrong[:1]}"
    unsaid = [module for module in MODULES if module not in claimed and not imports_streamlit(module)]
    assert not unsaid, f"these hold no Streamlit: say so in their docstring ({CLAIM!r}): {unsaid}"


def test_the_router_and_ui_load_no_torch():
    """app.py imports uap_app.memory and uap_app.page, and the home page ``import ui``, before its first picture:
    none of them may wait for torch."""
    loaded = import_one_by_one(["uap_app.memory", "uap_app.page", "ui"], "torch")
    assert not any(loaded.values()), loaded


def test_no_import_cycle_among_the_app_modules():
    graph = {module: imported(module) - {module} for module in MODULES}
    assert graph["uap_app.live_run"] >= {"uap_app.jobs", "uap_app.watching"}  # the parser sees imports
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for other in sorted(graph[module]):
            assert state.get(other) != "open", "import cycle: " + " -> ".join([*path, module, other])
            if other not in state:
                visit(other, [*path, module])
        state[module] = "done"

    for module in MODULES:
        if module not in state:
            visit(module, [])


def page_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
    return names


def test_every_page_reaches_the_app_through_ui_alone():
    for path in PAGES:
        names = page_imports(path)
        assert "ui" in names, f"{path.name} does not import ui"
        assert not [name for name in names if name.split(".")[0] == "uap_app"], f"{path.name} imports uap_app directly"


def test_ui_re_exports_exactly_what_the_pages_use_and_nothing_private():
    import ui

    used = set()
    for path in PAGES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ui":
                used.add(node.attr)
    assert used == set(ui.__all__), (
        f"used but not in ui: {sorted(used - set(ui.__all__))}; in ui but unused: {sorted(set(ui.__all__) - used)}"
    )
    assert sorted(ui.__all__) == sorted(ui._MODULE_OF)  # the names listed are the names it loads
    assert not [name for name in ui.__all__ if name.startswith("_")]
    for name in ui.__all__:
        getattr(ui, name)  # every name resolves


def test_importing_the_app_leaves_torchs_threads_alone():
    """Only the app's first use of a model or the data sets torch's threads (the server's choice), not an import."""
    script = (
        "import importlib, pkgutil, torch, uap_app\n"
        "torch.set_num_threads(3)\n"
        "for module in pkgutil.iter_modules(uap_app.__path__):\n"
        "    importlib.import_module(f'uap_app.{module.name}')\n"
        "print(torch.get_num_threads())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "UAP_TORCH_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, text=True, capture_output=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == "3"
