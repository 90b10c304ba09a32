"""The package reads as its data flows: the import graph of goldstar/, built from the source,
has no circle and no import from a lower layer to a higher one.

Every import of a goldstar module counts: at the top of a module, inside a function, or under
`if TYPE_CHECKING`. Imports inside functions are allowed only in the modules of LAZY, each for
the reason it gives; everywhere else a goldstar import sits at the top of the module.
"""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "goldstar"

# The layers, lowest first: a module may import its own layer and the layers below it. The first
# pattern a module matches gives its layer; a module that matches none fails the test.
LAYERS: list[tuple[str, list[str]]] = [
    ("base: imports nothing of goldstar but this layer", [
        "goldstar.exceptions", "goldstar.defaults", "goldstar.hashing", "goldstar.params", "goldstar.checks",
        "goldstar.progress", "goldstar.present.markup",
    ]),
    ("store: files written whole, locks, output kinds, tables", [
        "goldstar.store.atomic", "goldstar.store.decimal_text", "goldstar.store.gzip_stream", "goldstar.store.lock", "goldstar.store.outputs", "goldstar.store.tables",
    ]),
    ("problem: the Problem and its objectives", [
        "goldstar.problem.arrays", "goldstar.problem.scaling", "goldstar.problem.validate", "goldstar.problem.objectives*",
        "goldstar.problem.model", "goldstar.problem",
    ]),
    ("steps on a built problem, and problem directories", ["goldstar.problem.prepass", "goldstar.store.layout"]),
    ("inputs: records and targets into a Problem", [
        "goldstar.inputs.cps", "goldstar.inputs.build", "goldstar.inputs.synth", "goldstar.inputs.engines*",
    ]),
    ("inputs: records and targets into a Problem, with its objective", ["goldstar.inputs.assemble"]),
    ("inputs: where a problem comes from", ["goldstar.inputs.source", "goldstar.inputs"]),
    ("solvers", ["goldstar.solvers*"]),
    ("certificate", ["goldstar.certificate*"]),
    ("the build and solve steps the CLI and the API share", ["goldstar.workflow"]),
    ("reference", ["goldstar.store.reference", "goldstar.store"]),
    ("the reference pipeline", ["goldstar.pipeline"]),
    ("verify", ["goldstar.verify*"]),
    ("present: reports, dollars, plots, benchmarks", ["goldstar.present*"]),
    ("the Python API, its test helpers and pytest plugin", [
        "goldstar.api", "goldstar.testing", "goldstar.pytest_plugin",
    ]),
    ("areas", ["goldstar.areas*"]),
    ("entry points", ["goldstar.cli", "goldstar.__main__", "goldstar"]),
]

# Modules that may import goldstar modules inside functions, and why.
LAZY = {
    "goldstar.cli": "every `goldstar` call builds every command's parser: a command's modules load "
                    "when it runs, so `--help` and bad-argument errors stay fast",
    "goldstar.areas.command": "its parser is built with the CLI's; the batch's modules (numpy, "
                              "pandas, dask) load when the command runs",
    "goldstar.areas.joint_run": "torch is an extra: the joint method's torch kernels "
                                "(goldstar.solvers.additive_torch) load only when a joint device is asked for",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported(name: str, path: Path, node: ast.ImportFrom | ast.Import, known: set[str]) -> list[str]:
    """The goldstar modules a statement imports (a name imported from a package that is a
    module counts as that module)."""
    if isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
    else:
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        if node.level:
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
    out = []
    for target in targets:
        while target not in known and "." in target:
            target = target.rsplit(".", 1)[0]
        if target in known and target != name:
            out.append(target)
    return out


def graph() -> tuple[dict[str, set[str]], dict[str, list[str]]]:
    """The import edges, and for each module the goldstar imports it makes inside functions."""
    mods = modules()
    known = set(mods)
    edges: dict[str, set[str]] = {m: set() for m in mods}
    lazy: dict[str, list[str]] = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        inside = set()
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inside |= {id(n) for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets = imported(name, path, node, known)
                edges[name] |= set(targets)
                if id(node) in inside and targets:
                    lazy.setdefault(name, []).extend(f"{t} (line {node.lineno})" for t in targets)
    return edges, lazy


def layer_of(name: str) -> int:
    for index, (_, patterns) in enumerate(LAYERS):
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            return index
    raise AssertionError(f"{name} is in no layer: add it to LAYERS in {Path(__file__).name}")


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer():
    for name in modules():
        layer_of(name)


def test_no_import_circle():
    edges, _ = graph()
    assert cycles(edges) == []


def test_no_import_runs_up_the_layers():
    edges, _ = graph()
    upward = [f"{a} ({LAYERS[layer_of(a)][0].split(':')[0]}) imports {b} ({LAYERS[layer_of(b)][0].split(':')[0]})"
              for a in sorted(edges) for b in sorted(edges[a]) if layer_of(b) > layer_of(a)]
    assert upward == []


def test_imports_inside_functions_only_where_a_reason_is_given():
    _, lazy = graph()
    unexplained = {name: where for name, where in lazy.items() if name not in LAZY}
    assert unexplained == {}


def test_the_checker_finds_a_circle_and_an_upward_import():
    edges = {"goldstar.a": {"goldstar.b"}, "goldstar.b": {"goldstar.a"}, "goldstar.c": set()}
    assert cycles(edges) == [["goldstar.a", "goldstar.b"]]
    assert layer_of("goldstar.cli") > layer_of("goldstar.store.atomic")
