"""The package's imports form no circle and reach no other module's private names.

Read from the source with `ast` (nothing is imported, so the test takes a fraction of a
second): every ``import`` and ``from ... import`` of ``cdmtehr/**/*.py``, at module level and
inside functions alike, relative imports resolved. It fails on

* a circle among the package's modules (an import inside a function counts: it only moves
  the circle to the first call);
* a leading-underscore name defined in one module and imported by another, in the package or
  in the scripts of ``benchmarks/`` (a private module such as ``cdmtehr._parameters`` may be
  imported; it is its underscore names that stay inside it);
* an import of a package module inside a function, unless `LAZY_IMPORTS` gives its reason.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "cdmtehr"
BENCHMARKS = ROOT / "benchmarks"

# (importing module, imported module) -> why the import waits for a call. Keep it short:
# an entry is for an optional dependency, a measured import cost or the first import of torch,
# not for a circle.
_TORCH = ("imports torch, whose OpenMP reads its wait policy when torch loads: importing "
          "cdmtehr loads no torch, the estimator and the command line set the policy first "
          "(cdmtehr._threads)")
LAZY_IMPORTS: dict[tuple[str, str], str] = {
    ("cdmtehr.synthesizer", "cdmtehr._fitting"): _TORCH,
    ("cdmtehr.synthesizer", "cdmtehr._parquet"): _TORCH,
    ("cdmtehr.synthesizer", "cdmtehr.completion"): _TORCH,
    ("cdmtehr.synthesizer", "cdmtehr.persistence"): _TORCH,
    ("cdmtehr.cli", "cdmtehr._parameters"): _TORCH,
    ("cdmtehr.cli", "cdmtehr.sampling.samplers"): _TORCH,
    ("cdmtehr.cli", "cdmtehr.evaluation"): _TORCH,
    ("cdmtehr.cli", "cdmtehr.evaluation.report"): _TORCH,
}


def _module_names(folder: Path, prefix: str) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under `folder`."""
    names = {}
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(folder).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join((prefix, *parts) if prefix else parts)] = path
    return names


MODULES = _module_names(PACKAGE, "cdmtehr")
SCRIPTS = {name: path for name, path in _module_names(BENCHMARKS, "").items() if "." not in name}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


class _Imports(ast.NodeVisitor):
    """The imports of one module: (target module, imported name or None, line, function)."""

    def __init__(self, module: str, is_package: bool):
        self.base = module.split(".") if is_package else module.split(".")[:-1]
        self.found = []
        self.aliases = {}  # local name -> the dotted name it is bound to
        self.function = None

    def _visit_function(self, node):
        outer, self.function = self.function, self.function or node.name
        self.generic_visit(node)
        self.function = outer

    visit_FunctionDef = visit_AsyncFunctionDef = _visit_function

    def visit_Lambda(self, node):
        outer, self.function = self.function, self.function or "<lambda>"
        self.generic_visit(node)
        self.function = outer

    def visit_Import(self, node):
        for alias in node.names:
            self.found.append((alias.name, None, node.lineno, self.function))
            local = alias.asname or alias.name.split(".")[0]
            self.aliases[local] = alias.name if alias.asname else local

    def visit_ImportFrom(self, node):
        if node.level:
            parts = self.base[: len(self.base) - (node.level - 1)]
            target = ".".join(parts + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        for alias in node.names:
            self.found.append((target, alias.name, node.lineno, self.function))
            self.aliases[alias.asname or alias.name] = f"{target}.{alias.name}"


@functools.cache
def _imports(module: str, path: Path) -> _Imports:
    visitor = _Imports(module, path.name == "__init__.py")
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    visitor.visit(tree)
    visitor.tree = tree
    return visitor


def _dotted(node) -> str | None:
    """``a.b.c`` for an attribute chain on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def _private_uses(module: str, imports: _Imports, known: dict) -> list[str]:
    """The private names of other modules that `module` imports or reads as attributes."""
    found = []
    for target, name, line, _ in imports.found:
        if name is not None and _is_private(name) and target in known:
            if f"{target}.{name}" not in known and target != module:
                found.append(f"{module}:{line} imports {name} from {target}")
    for node in ast.walk(imports.tree):
        if not isinstance(node, ast.Attribute) or not _is_private(node.attr):
            continue
        dotted = _dotted(node.value)
        if dotted is None:
            continue
        head, _, rest = dotted.partition(".")
        if head not in imports.aliases:
            continue
        owner = ".".join(filter(None, [imports.aliases[head], rest]))
        if owner in known and f"{owner}.{node.attr}" not in known and owner != module:
            found.append(f"{module}:{node.lineno} reads {owner}.{node.attr}")
    return found


@functools.cache
def _graph() -> tuple[dict, dict]:
    """Module -> the package modules it imports (anywhere in it); and each module's imports."""
    parsed = {module: _imports(module, path) for module, path in MODULES.items()}
    edges = {module: set() for module in MODULES}
    for module, imports in parsed.items():
        for target, name, _, _ in imports.found:
            if name is not None and f"{target}.{name}" in MODULES:
                target = f"{target}.{name}"
            # A module's own packages run before it whatever it imports: no edge.
            if target in MODULES and target != module and not module.startswith(target + "."):
                edges[module].add(target)
    return edges, parsed


def _circles(edges: dict) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_package_imports_form_no_circle():
    edges, _ = _graph()
    circles = _circles(edges)
    assert not circles, "import circles: " + "; ".join(" <-> ".join(c) for c in circles)


def test_no_module_imports_another_modules_private_names():
    _, parsed = _graph()
    found = [
        use for module, imports in parsed.items() for use in _private_uses(module, imports, MODULES)
    ]
    assert not found, "\n".join(found)


def test_the_benchmarks_use_no_private_name():
    known = {**MODULES, **SCRIPTS}
    found = [
        use
        for script, path in SCRIPTS.items()
        for use in _private_uses(script, _imports(script, path), known)
    ]
    assert not found, "\n".join(found)


def test_package_modules_are_imported_at_module_level():
    _, parsed = _graph()
    found = []
    for module, imports in parsed.items():
        for target, name, line, function in imports.found:
            if function is None:
                continue
            if name is not None and f"{target}.{name}" in MODULES:
                target = f"{target}.{name}"
            if target in MODULES and (module, target) not in LAZY_IMPORTS:
                use = f"{module}:{line} imports {target} inside {function}()"
                if use not in found:
                    found.append(use)
    assert not found, "\n".join(found)


def test_the_allowlist_is_not_stale():
    _, parsed = _graph()
    lazy = set()
    for module, imports in parsed.items():
        for target, name, _, function in imports.found:
            if function is not None:
                dotted = f"{target}.{name}"
                lazy.add((module, dotted if dotted in MODULES else target))
    assert set(LAZY_IMPORTS) <= lazy


def test_the_walk_sees_the_package():
    """A guard on the walk itself: it finds the modules and an import between them."""
    edges, _ = _graph()
    assert "cdmtehr.synthesizer" in MODULES and "_common" in SCRIPTS
    assert "cdmtehr.synthesizer" in edges["cdmtehr"]
