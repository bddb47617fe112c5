"""The shape of the code: no import cycle among our modules, and a pure core.

The graph is read from the source with ``ast``, so an import inside a function (the lazy
imports that keep ``mem-sync --help`` fast) counts like one at the top of a module, and so
does a module named in a string (a registry that imports by name).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "memsync"

# The pure core: it decides, it never touches disk, git, the network or the environment.
PURE = ("memsync.merge", "memsync.safety", "memsync.profiles.metrics")
# What the pure core may import of ours besides itself: data types, errors, text helpers.
PURE_MAY_IMPORT = {"memsync", "memsync.errors", "memsync.model", "memsync.text"}
# Standard or third-party modules that reach disk, processes, the network or the environment.
IMPURE_LIBRARIES = {
    "os", "subprocess", "socket", "shutil", "tempfile", "pathlib", "glob", "io", "mmap", "fcntl",
    "sqlite3", "urllib", "http", "requests", "multiprocessing", "concurrent", "importlib", "atexit",
    "signal", "git", "github", "gitlab", "atlassian", "jinja2",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted((SRC / PACKAGE).rglob("*.py"))}


def imports_of(name: str) -> tuple[set[str], set[str]]:
    """(our modules ``name`` imports anywhere in its source, the top-level names of everything else)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    ours: set[str] = set()
    others: set[str] = set()

    def add(target: str) -> None:
        if target == PACKAGE or target.startswith(PACKAGE + "."):
            # the longest prefix that is one of our modules (``memsync.profiles.columns.X`` -> columns)
            while target not in MODULES and "." in target:
                target = target.rpartition(".")[0]
            if target in MODULES and target != name:
                ours.add(target)
        else:
            others.add(target.partition(".")[0])

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            else:
                target = node.module or ""
            add(target)
            for alias in node.names:  # ``from memsync.profiles import columns`` imports a module
                if f"{target}.{alias.name}" in MODULES:
                    add(f"{target}.{alias.name}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in MODULES:
            add(node.value)  # a module imported by name (importlib)
    return ours, others


GRAPH = {name: imports_of(name)[0] for name in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def is_pure(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in PURE)


def test_the_graph_is_read_from_every_module_including_lazy_imports():
    assert len(MODULES) > 40
    # lazy imports inside functions count: ci-merge loads the merge job only when run
    assert "memsync.ci.merge_job" in GRAPH["memsync.commands.ci_merge"]
    # and a registry that imports its adapters by name points at them
    assert "memsync.publish.providers.github" in GRAPH["memsync.publish.providers.registry"]


def test_the_cycle_finder_finds_a_cycle_through_a_lazy_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_among_our_modules():
    assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH) or [])


def test_the_pure_core_imports_nothing_of_ours_that_touches_the_outside():
    reached: set[str] = set()
    todo = [name for name in MODULES if is_pure(name)]
    assert {"memsync.merge.ingest", "memsync.safety.secrets", "memsync.profiles.metrics"} <= set(todo)
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        todo.extend(GRAPH[name])
    outside = sorted(name for name in reached if not is_pure(name) and name not in PURE_MAY_IMPORT)
    assert outside == [], f"the pure core reaches {outside}"
    libraries = {name: sorted(imports_of(name)[1] & IMPURE_LIBRARIES) for name in sorted(reached)}
    assert {name: found for name, found in libraries.items() if found} == {}


def test_adapters_import_neither_the_registry_nor_each_other():
    adapters = {"memsync.publish.providers.github", "memsync.publish.providers.gitlab",
                "memsync.publish.providers.bitbucket"}
    for adapter in adapters:
        assert not GRAPH[adapter] & (adapters | {"memsync.publish.providers.registry"}), adapter
    assert not GRAPH["memsync.publish.remote"] & adapters
