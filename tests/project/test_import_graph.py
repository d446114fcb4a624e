"""deepnet's modules import one another without a cycle: every import of a deepnet module counts, at the top of
a file or inside a function (an import inside a function still ties the two modules together; it only hides
the cycle until that function runs). `deepnet.backends` is the folder backends/."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"deepnet": ROOT / "deepnet", "deepnet.backends": ROOT / "backends"}


def modules() -> dict:
    """{module name: file} for every module of the two folders."""
    out = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([package, *parts])] = path
    return out


def imported(name: str, path: Path, known) -> set:
    """The deepnet modules `name` (at `path`) imports: `from X import a` counts X.a where that is a module, else
    X; a relative import is resolved from the module's package."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def cycles(graph: dict) -> list:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def graph() -> dict:
    known = modules()
    return {name: imported(name, path, known) for name, path in known.items()}


def test_the_package_imports_without_a_cycle():
    g = graph()
    found = cycles(g)
    described = ["; ".join(f"{m} -> {', '.join(sorted(g[m] & set(c)))}" for m in c) for c in found]
    assert not found, "import cycles:\n" + "\n".join(described)


def test_the_cycle_finder_finds_a_cycle():
    # a -> b -> c -> a and d -> a: one cycle of three, d outside it
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_imports_inside_functions_and_relative_ones():
    g = graph()
    assert "deepnet.layers.runner" in g["deepnet.layers.composite"]  # `from . import runner`
    assert "deepnet.backends.cuda.kernels" in g["deepnet.backends.cuda.backend"]  # `from . import kernels as ...`
    assert "deepnet.loading" in g["deepnet.commands.predict"]  # inside predict_images
    assert len(g) > 100


# deepnet's modules that import an optional dependency at their top (Numba: the `fast` extra), which another
# module may therefore import only inside the function that needs them
OPTIONAL = {f"deepnet.backends.cpu.{m}" for m in ("blas", "kernels", "normalization", "outputs", "patches", "pooling",
                                                   "popcount", "spin", "updates", "winograd", "winograd4",
                                                   "direct", "direct_block")}


def test_imports_inside_functions_are_only_of_optional_modules():
    known = modules()
    inside = []
    for name, path in known.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for fn in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and node.level:
                    base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
                    targets = {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}
                    if not targets <= OPTIONAL:
                        inside.append(f"{name}.{fn.name}: {ast.unparse(node)}")
    assert not inside, inside
    top = {m for m in OPTIONAL if any(line.startswith(("import numba", "from numba"))
                                      for line in known[m].read_text().splitlines())}
    assert top == OPTIONAL  # each one does import Numba at its top, or it belongs at the top of its importers
