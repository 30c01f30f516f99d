"""The layers of the tree, read statically from every module's imports (ast, imports
inside functions included): platform_core imports nothing above it, and no import
circle exists among the project's modules or its top-level packages (docs/architecture.md,
"Layers")."""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
PACKAGES = ("platform_core", "services", "migrations", "stack", "gateway", "bench", "tools", "tests")
ABOVE_CORE = ("services", "migrations", "stack", "gateway")


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, pathlib.Path]:
    return {module_name(path): path for package in PACKAGES
            for path in sorted((ROOT / package).rglob("*.py")) if ".venv" not in path.parts}


def imports_of(name: str, path: pathlib.Path, known: set[str]) -> set[str]:
    """The project modules `name` imports anywhere in its file (a `from package import
    module` counts as the module when it is one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(name, path, set(modules)) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    assert "services.instance.servicer" in graph["services.instance.family"]  # imported inside _specs()
    assert "services.admin" in graph and "platform_core.admin" in graph["services.admin"]


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_platform_core_imports_nothing_above_it():
    wrong = sorted(f"{name} imports {target}" for name, targets in import_graph().items()
                   if name.split(".")[0] == "platform_core"
                   for target in targets if target.split(".")[0] in ABOVE_CORE)
    assert wrong == []


def test_no_import_circle_among_modules():
    graph = {name: targets for name, targets in import_graph().items() if not name.startswith("tests")}
    assert circles(graph) == []


def test_no_import_circle_among_packages():
    """Top-level packages (tests excluded: they stand above everything) and each service family."""
    def unit(module: str) -> str:
        parts = module.split(".")
        return ".".join(parts[:2]) if parts[0] == "services" and len(parts) >= 2 else parts[0]

    graph: dict[str, set[str]] = {}
    for name, targets in import_graph().items():
        if name.startswith("tests"):
            continue
        graph.setdefault(unit(name), set()).update(unit(t) for t in targets if unit(t) != unit(name))
    assert circles(graph) == []


OUTSIDE_BENCH = ("platform_core", "services", "migrations", "stack", "gateway")


def private_names_reached(path: pathlib.Path) -> list[str]:
    """The `_private` names a module takes from the project's packages outside its own:
    imported by name (`from services.x import _y`) or read off an imported module
    (`queries._SQL`)."""
    tree = ast.parse(path.read_text(), str(path))
    modules: set[str] = set()  # local names bound to a module of those packages
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in OUTSIDE_BENCH:
            for alias in node.names:
                if alias.name.startswith("_"):
                    found.append(f"{node.module}.{alias.name}")
                modules.add(alias.asname or alias.name)  # a module or not: only `x._y` below counts
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in OUTSIDE_BENCH:
                    modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name) and node.value.id in modules):
            found.append(f"{node.value.id}.{node.attr}")
    return sorted(set(found))


def test_the_benchmarks_use_only_public_names_of_the_code_they_measure():
    """bench/ reaches the services, stack and core through their public surface (issue 14):
    a private name there is a detail the benchmark would silently depend on."""
    reached = {str(path.relative_to(ROOT)): names for path in sorted((ROOT / "bench").rglob("*.py"))
               if (names := private_names_reached(path))}
    assert reached == {}


def test_the_private_name_finder_finds_both_forms(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from services.voucher import queries\nfrom stack.demo import _hidden\n"
                      "x = queries._TRENDS\ny = queries.TRENDS\n")
    assert private_names_reached(sample) == ["queries._TRENDS", "stack.demo._hidden"]
