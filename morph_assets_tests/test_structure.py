"""The package's structural rules, checked from the source (scanpy keeps a test like this).

* every lib subpackage declares its public API in ``__all__``, and every name there exists;
* every public function and class in ``__all__`` has a numpydoc docstring with a Parameters
  section when it takes arguments and a Returns (or Yields) section when it returns something;
* no module under ``morph_assets/lib`` imports dagster, and lib modules import each other
  without a cycle (both read with :mod:`ast`, nothing is imported to check);
* no file under ``morph_assets/`` is longer than 500 lines, and nothing calls ``matplotlib.use``;
* tests mirror the package: ``morph_assets/lib/<stage>/_<name>.py`` is tested in
  ``morph_assets_tests/lib/<stage>/test_<name>.py`` (``cli/_<name>.py`` in ``cli/test_<name>.py``),
  but for a short list of modules that can only be tested through others.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "morph_assets"
LIB = PACKAGE / "lib"
TESTS = Path(__file__).resolve().parent
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _subpackages() -> list[str]:
    return sorted(_module_name(init) for init in LIB.rglob("__init__.py") if init.parent != LIB)


LIB_FILES = sorted(LIB.rglob("*.py"))
SUBPACKAGES = _subpackages()


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_every_subpackage_declares_its_api(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} has no __all__"
    missing = [item for item in exported if not hasattr(module, item)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"
    assert len(set(exported)) == len(exported), f"{name}.__all__ lists a name twice"
    assert module.__doc__ and module.__doc__.strip(), f"{name} has no docstring saying what the stage does"


def _sections(doc: str) -> set[str]:
    """Numpydoc section titles: a line followed by a line of dashes of the same length."""
    lines = inspect.cleandoc(doc).splitlines()
    return {
        lines[i].strip()
        for i in range(len(lines) - 1)
        if lines[i].strip() and re.fullmatch(r"-{3,}", lines[i + 1].strip()) and len(lines[i + 1].strip()) == len(lines[i].strip())
    }


def _takes_arguments(function: object) -> bool:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return False
    return any(name not in ("self", "cls") for name in signature.parameters)


def _returns_something(function: object) -> bool:
    """True when the source has a ``return <value>`` in the function's own body (not in nested ones)."""
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    tree = ast.parse(inspect.cleandoc("\n" + source) if source.startswith((" ", "\t")) else source)
    node = tree.body[0]
    if isinstance(node, ast.FunctionDef) and node.returns is not None:
        if isinstance(node.returns, ast.Constant) and node.returns.value is None:
            return False
    stack = list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(child, ast.Return) and child.value is not None:
            if not (isinstance(child.value, ast.Constant) and child.value.value is None):
                return True
        stack.extend(ast.iter_child_nodes(child))
    return False


def _public_callables() -> list[tuple[str, str]]:
    found = []
    for package in SUBPACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isfunction(value) or inspect.isclass(value):
                found.append((package, name))
    return found


@pytest.mark.parametrize(("package", "name"), _public_callables())
def test_public_functions_and_classes_have_numpydoc(package: str, name: str) -> None:
    value = getattr(importlib.import_module(package), name)
    doc = inspect.getdoc(value) if inspect.isfunction(value) else value.__doc__
    assert doc and doc.strip(), f"{package}.{name} has no docstring"
    sections = _sections(doc)
    if inspect.isclass(value):
        if dataclasses.is_dataclass(value) and "Attributes" in sections:
            return  # a dataclass documents its fields as Attributes
        if issubclass(value, BaseException) or not _takes_arguments(value.__init__):
            return
        init_doc = value.__init__.__doc__ or ""
        assert {"Parameters", "Attributes"} & (sections | _sections(init_doc)), (
            f"class {package}.{name} takes arguments but documents neither Parameters nor Attributes"
        )
        return
    if _takes_arguments(value):
        assert "Parameters" in sections, f"{package}.{name} takes arguments but has no Parameters section"
    if _returns_something(value):
        assert {"Returns", "Yields"} & sections, f"{package}.{name} returns a value but has no Returns section"


def _imports(path: Path) -> list[tuple[str, int]]:
    """Modules a file imports (absolute names, relative ones resolved), with the line of each."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = _module_name(path).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
            found.append((base, node.lineno))
            # `from package import module` imports the module too
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return found


@pytest.mark.parametrize("path", LIB_FILES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_lib_module_imports_dagster(path: Path) -> None:
    bad = [f"line {line}: {name}" for name, line in _imports(path) if name.split(".")[0] in ("dagster", "dagster_duckdb")]
    assert not bad, f"{path.relative_to(PACKAGE)} imports dagster ({bad}): lib stays usable without it"
    defs = [f"line {line}: {name}" for name, line in _imports(path) if name.startswith("morph_assets.defs")]
    assert not defs, f"{path.relative_to(PACKAGE)} imports the Dagster layer ({defs})"


def _lib_graph() -> dict[str, set[str]]:
    """Import graph of lib modules; importing a module also runs its packages' ``__init__``."""
    modules = {_module_name(path): path for path in LIB_FILES}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for imported, _ in _imports(path):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if not imported or imported == name:
                continue
            graph[name].add(imported)
            # importing a.b.c runs a.b's __init__ first
            parent = imported.rpartition(".")[0]
            while parent in modules and parent != name and not name.startswith(parent + "."):
                graph[name].add(parent)
                parent = parent.rpartition(".")[0]
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles_among_lib_modules() -> None:
    cycle = _find_cycle(_lib_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_finder_finds_a_planted_cycle() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_file_is_longer_than_500_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines (at most {MAX_LINES}): split it"


def test_nothing_switches_the_matplotlib_backend() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "use"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in ("matplotlib", "mpl")):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders, f"matplotlib.use switches a notebook's backend: {offenders}"


# Modules without a test file of their own, each with where its tests are and why they are there.
# Keep it short: a module that can be tested alone gets its mirrored test file instead.
_PER_WELL_JOB = ("a per-well job that writes the lake: run by the wells runs of defs/test_segment_features_assets "
                 "and defs/test_well_runs, and by cli/test_runs")
TESTED_THROUGH_OTHERS = {
    "lib/plot/_models.py": "each figure is drawn in the test of the model whose results it shows "
                           "(lib/models/test_forest, test_vae, test_clustering, test_hierarchical, "
                           "test_validation), beside the fixtures that make those results (a trained VAE among them)",
    "lib/plot/_retrieval.py": "map_scatter draws the mAP table of lib/retrieval/test_report's `scored` fixture",
    "lib/report/_segmentation_review.py": "the montage reads a lake's raw images and masks: checked in the masks "
                                          "asset's metadata by defs/test_segment_features_assets",
    "lib/tasks/_features.py": _PER_WELL_JOB,
    "lib/tasks/_masks.py": _PER_WELL_JOB,
    "lib/tasks/_tensors.py": _PER_WELL_JOB,
    "lib/tasks/_skipped.py": "the skipped_<asset> tables the study assets write: checked in the study report "
                             "by defs/test_single_plate_study",
}


def _mirrored_test(path: Path) -> Path:
    """Where the tests of ``morph_assets/<folder>/_<name>.py`` (or ``<name>.py``) belong."""
    relative = path.relative_to(PACKAGE)
    return TESTS / relative.parent / f"test_{relative.stem.removeprefix('_')}.py"


def test_tests_mirror_the_package() -> None:
    modules = [path for path in sorted(LIB_FILES + list((PACKAGE / "cli").rglob("*.py"))) if path.name != "__init__.py"]
    problems = []
    for path in modules:
        name, expected = str(path.relative_to(PACKAGE)), _mirrored_test(path)
        shown = expected.relative_to(TESTS.parent)
        if name in TESTED_THROUGH_OTHERS:
            if expected.exists():  # the exemption has served its purpose: keep the list short
                problems.append(f"{name} has {shown} now: drop it from TESTED_THROUGH_OTHERS")
        elif not expected.exists():
            problems.append(f"{name} has no {shown}")
    known = {str(path.relative_to(PACKAGE)) for path in modules}
    problems += [f"TESTED_THROUGH_OTHERS names {name}, which does not exist" for name in TESTED_THROUGH_OTHERS
                 if name not in known]
    assert not problems, "tests do not mirror the package:\n" + "\n".join(problems)
