"""The package keeps its layers: the import-linter contracts in pyproject.toml hold, no module imports
itself back through any chain (function-local imports included), and a function-local import of edgeface
code exists only to keep a heavy optional dependency lazy, saying which (`# lazy: torch`)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "toolkit" / "edgeface"


def _modules(root: Path = PACKAGE) -> dict:
    """{dotted module name: path} for every .py file of the package tree."""
    mods = {}
    for p in sorted(root.rglob("*.py")):
        parts = ("edgeface",) + p.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def _resolve(name: str, mods: dict):
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path, mods: dict):
    """(target module, line number, inside a function) for every edgeface import of one module."""
    is_pkg = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), str(path))
    out = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = module.split(".") if is_pkg else module.split(".")[:-1]
                    parts = parts[: len(parts) - child.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                names = [f"{base}.{a.name}" for a in child.names] + [base]
            else:
                names = []
            for name in names:
                if name.split(".")[0] == "edgeface":
                    target = _resolve(name, mods)
                    if target and target not in (module, "edgeface"):
                        out.append((target, child.lineno, in_function))
            visit(child, inside)

    visit(tree, False)
    return out


def _cycles(graph: dict) -> list:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
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


def test_cycle_finder_finds_a_cycle_through_a_function_local_import(tmp_path):
    pkg = tmp_path / "edgeface"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("")
    (pkg / "a" / "x.py").write_text("from edgeface.a import y\n")
    (pkg / "a" / "y.py").write_text("def f():\n    from edgeface.a.x import g\n")
    (pkg / "z.py").write_text("from edgeface.a.x import g\n")
    mods = _modules(pkg)
    graph = {m: {t for t, _, _ in _imports(m, p, mods)} for m, p in mods.items()}
    assert _cycles(graph) == [["edgeface.a.x", "edgeface.a.y"]]


def test_no_import_cycle_between_modules_or_packages():
    mods = _modules()
    graph = {m: {t for t, _, _ in _imports(m, p, mods)} for m, p in mods.items()}
    assert _cycles(graph) == []
    top = lambda m: ".".join(m.split(".")[:2])  # noqa: E731
    packages = defaultdict(set)
    for source, targets in graph.items():
        packages[top(source)].update(top(t) for t in targets if top(t) != top(source))
    assert _cycles(packages) == []


def _says_lazy(lines: list, lineno: int) -> bool:
    """`lazy:` on the import's line or in the comment heading its block of imports."""
    i = lineno - 1
    while i >= 0:
        text = lines[i].strip()
        if "lazy:" in text:
            return True
        if i < lineno - 1 and not (text.startswith(("import ", "from ", "#")) or text == ""):
            return False
        i -= 1
    return False


def test_function_local_edgeface_imports_only_keep_a_heavy_dependency_lazy():
    """A function-local import of edgeface code is no way around a cycle: where one stays, it keeps an
    optional heavy dependency (torch, onnx, TensorFlow, matplotlib, PyAV, ...) out of the caller's import,
    and the line (or the line above it) says which with `# lazy: ...`."""
    mods, unexplained = _modules(), []
    for module, path in mods.items():
        lines = path.read_text().splitlines()
        for _, lineno, local in _imports(module, path, mods):
            if local and not _says_lazy(lines, lineno):
                unexplained.append(f"{path.relative_to(REPO)}:{lineno}: {lines[lineno - 1].strip()}")
    assert sorted(set(unexplained)) == []


def test_import_linter_contracts_hold():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(exe).exists():
        pytest.fail("import-linter is not installed: pip install -e '.[dev]' (it is in the dev extra)")
    proc = subprocess.run([exe, "--no-cache", str(REPO / "pyproject.toml")], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout
