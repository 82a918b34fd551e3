"""The shape of the code, held by a test: imports run one way, and no package or module
imports another that imports it back.

Layers, top to bottom: `config` (with `asgi.py` and `manage.py`) → the domain apps →
`realtime` → `core` → Django and libraries. `core` imports no app; `realtime` imports no app
(a domain registers what the gateway needs, see realtime/registry.py). The graph of
top-level packages has no cycle, directly or through a third; neither has the graph of
modules. An import inside a function carries a comment saying why.
"""

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "feed", "chat", "notifications", "frontend")
PACKAGES = ("config", "core", "realtime", *APPS)
ENTRY_MODULES = {"asgi": "config", "manage": "config"}  # wiring, at the top with config
LAYER = {"config": 3, **{app: 2 for app in APPS}, "realtime": 1, "core": 0}


def source_files() -> dict[str, Path]:
    """Module name -> file, for every module of the project's packages and entry points."""
    files = {name: ROOT / f"{name}.py" for name in ENTRY_MODULES}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            files[".".join(parts)] = path
    return files


def package_of(module: str) -> str:
    top = module.split(".")[0]
    return ENTRY_MODULES.get(top, top)


class Imports(ast.NodeVisitor):
    """The project modules a file imports: (line, module, inside a function, typing only)."""

    def __init__(self, module: str, known: set[str], *, is_package: bool):
        self.module, self.known, self.is_package = module, known, is_package
        self.found: list[tuple[int, str, bool, bool]] = []
        self.in_function: list[tuple[int, str]] = []  # every import inside a function, any module
        self.function_depth = 0
        self.typing_only = 0

    def _resolve(self, name: str) -> str | None:
        while name and name not in self.known:
            name = name.rpartition(".")[0]
        return name or None

    def _add(self, node, name: str) -> None:
        target = self._resolve(name)
        if target is not None and target != self.module:
            self.found.append((node.lineno, target, self.function_depth > 0, self.typing_only > 0))

    def visit_Import(self, node):
        if self.function_depth:
            self.in_function.append((node.lineno, ", ".join(alias.name for alias in node.names)))
        for alias in node.names:
            self._add(node, alias.name)

    def visit_ImportFrom(self, node):
        if self.function_depth:
            self.in_function.append((node.lineno, "." * node.level + (node.module or "")))
        if node.level:  # relative: from this module's package, up `level - 1` packages
            package = self.module.split(".") if self.is_package else self.module.split(".")[:-1]
            prefix = ".".join(package[: len(package) - node.level + 1])
            name = f"{prefix}.{node.module}" if node.module else prefix
        else:
            name = node.module or ""
        for alias in node.names:
            self._add(node, f"{name}.{alias.name}" if f"{name}.{alias.name}" in self.known else name)

    def _function(self, node):
        self.function_depth += 1
        self.generic_visit(node)
        self.function_depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_If(self, node):
        typing = isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        self.typing_only += typing
        for child in node.body:
            self.visit(child)
        self.typing_only -= typing
        for child in node.orelse:
            self.visit(child)


def project_imports():
    files = source_files()
    known = set(files)
    result = {}
    for module, path in files.items():
        visitor = Imports(module, known, is_package=path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(), filename=str(path)))
        result[module] = (path, visitor.found, visitor.in_function)
    return result


IMPORTS = project_imports()


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of a directed graph as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_imports_run_one_way_down_the_layers():
    wrong = []
    for module, (path, found, _) in IMPORTS.items():
        source = package_of(module)
        for line, target, _in_function, typing_only in found:
            dest = package_of(target)
            if typing_only or dest == source:
                continue
            # Apps may import each other (without a cycle, see below); nothing imports upward.
            if LAYER[dest] > LAYER[source] or (LAYER[dest] == LAYER[source] and source not in APPS):
                wrong.append(f"{path.relative_to(ROOT)}:{line} {source} imports {dest} ({target})")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_no_two_packages_import_each_other_even_through_a_third():
    graph: dict[str, set[str]] = defaultdict(set)
    for module, (_path, found, _) in IMPORTS.items():
        for _line, target, _in_function, typing_only in found:
            if not typing_only and package_of(target) != package_of(module):
                graph[package_of(module)].add(package_of(target))
    assert find_cycle(graph) is None


def test_no_module_imports_another_that_imports_it_back():
    graph = {
        module: {t for _l, t, _f, typing_only in found if not typing_only} for module, (_p, found, _) in IMPORTS.items()
    }
    assert find_cycle(graph) is None


def test_an_import_inside_a_function_says_why():
    silent = []
    for path, _found, in_function in IMPORTS.values():
        lines = path.read_text().splitlines()
        for line, target in in_function:
            # The reason: on the line, or in a comment just above the block of imports.
            above = line - 2
            while above > 0 and lines[above].strip().startswith(("from ", "import ")):
                above -= 1
            said = "#" in lines[line - 1] or lines[above].strip().startswith("#")
            if not said:
                silent.append(f"{path.relative_to(ROOT)}:{line} imports {target} inside a function")
    assert not silent, "\n".join(silent)


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ],
)
def test_the_cycle_finder_finds_cycles_through_a_third(graph, cycle):
    assert find_cycle(graph) == cycle
