"""The import graph of `jaxmix` and `experiments`, read from the source (AST), has no cycles;
the packages rebuilt to show their layout keep small modules and functions.

Every `import` counts, wherever it is written: an import deferred into a function still runs
and still closes a circle, it only hides it. Inside the packages that were rebuilt to show
their layout (`experiments.report`, `experiments.eval`) imports are also all at module level.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("jaxmix", "experiments")
# Packages whose modules import only at module level (no import inside a function or class).
FLAT_IMPORTS = ("experiments.report", "experiments.eval")
# Packages held to the house sizes (modules under ~300 lines, functions under ~60).
SMALL = FLAT_IMPORTS + ("experiments.train", "experiments.models")
# Circles allowed (none: issue 18's trainer rewrite removed main <-> train, the last one).
KNOWN_CYCLES = frozenset()


def module_files(root: pathlib.Path = ROOT) -> dict[str, pathlib.Path]:
  """{dotted module name: file} of every module of PACKAGES (a package is its __init__.py)."""
  out = {}
  for package in PACKAGES:
    for path in sorted((root / package).rglob("*.py")):
      parts = path.relative_to(root).with_suffix("").parts
      out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
  return out


def _imported(node: ast.AST, module: str, is_package: bool, known) -> list[str]:
  """The known modules one import statement names (`from p import m` names p.m if a module)."""
  if isinstance(node, ast.Import):
    names = [alias.name for alias in node.names]
  else:
    base = node.module or ""
    if node.level:   # Relative: resolved against the importing module's package.
      package = module.split(".") if is_package else module.split(".")[:-1]
      package = package[:len(package) - node.level + 1]
      base = ".".join(package + ([base] if base else []))
    names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
             for alias in node.names]
  out = []
  for name in names:
    while name and name not in known:   # `import a.b.c` of a non-module attribute: its owner.
      name = name.rpartition(".")[0]
    if name:
      out.append(name)
  return out


def import_graph(files=None) -> tuple[dict[str, set[str]], dict[str, list[tuple[int, str]]]]:
  """({module: modules it imports}, {module: [(line, imported) of imports inside a def]})."""
  files = module_files() if files is None else files
  graph, deferred = {m: set() for m in files}, {m: [] for m in files}
  for module, path in files.items():
    tree = ast.parse(path.read_text(), str(path))
    nested = {id(n) for f in ast.walk(tree)
              if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
              for n in ast.walk(f) if n is not f}
    for node in ast.walk(tree):
      if isinstance(node, (ast.Import, ast.ImportFrom)):
        targets = _imported(node, module, path.name == "__init__.py", files)
        graph[module].update(t for t in targets if t != module)
        if id(node) in nested:   # Any import, of ours or not (matplotlib, input pipelines).
          raw = node.names[0].name if isinstance(node, ast.Import) else node.module or "."
          deferred[module] += [(node.lineno, t) for t in targets or [raw]]
  return graph, deferred


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
  """Strongly connected components with more than one module (Tarjan's algorithm)."""
  index, low, stack, on_stack, out = {}, {}, [], set(), []

  def visit(v):   # Recursion depth is bounded by the number of modules (~100).
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in graph[v]:
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = set()
      while True:
        w = stack.pop()
        on_stack.discard(w)
        component.add(w)
        if w == v:
          break
      if len(component) > 1:
        out.append(component)

  for v in sorted(graph):
    if v not in index:
      visit(v)
  return out


def test_the_graph_finds_a_circle_and_a_deferred_import(tmp_path):
  # A small package of three modules: a -> b at module level, b -> a inside a function.
  pkg = tmp_path / "experiments" / "report"
  pkg.mkdir(parents=True)
  (pkg / "__init__.py").write_text("")
  (pkg / "a.py").write_text("from experiments.report import b\n")
  (pkg / "b.py").write_text("import os\n\ndef f():\n  from . import a\n  return a\n")
  (pkg / "c.py").write_text("from experiments.report.b import f\n")
  files = {f"experiments.report{'.' + p.stem if p.stem != '__init__' else ''}": p
           for p in pkg.glob("*.py")}
  graph, deferred = import_graph(files)
  assert graph["experiments.report.c"] == {"experiments.report.b"}
  assert cycles(graph) == [{"experiments.report.a", "experiments.report.b"}]
  assert deferred["experiments.report.b"] == [(4, "experiments.report.a")]


def test_no_import_circles():
  graph, _ = import_graph()
  assert "experiments.report.page" in graph and "jaxmix._src.mixing" in graph
  unknown = [sorted(c) for c in cycles(graph) if frozenset(c) not in KNOWN_CYCLES]
  assert not unknown, f"import circles: {unknown}"


@pytest.mark.parametrize("package", FLAT_IMPORTS)
def test_no_deferred_imports(package):
  _, deferred = import_graph()
  found = {m: d for m, d in deferred.items()
           if (m == package or m.startswith(package + ".")) and d}
  assert any(m.startswith(package) for m in deferred), f"{package} not found"
  assert not found, f"imports inside functions: {found}"


@pytest.mark.parametrize("package", SMALL)
def test_small_modules_and_functions(package):
  # The house style: modules under ~300 lines, functions under ~60.
  files = {m: p for m, p in module_files().items() if m == package or m.startswith(package + ".")}
  assert files, f"{package} not found"
  long_modules = {m: n for m, p in files.items() if (n := len(p.read_text().splitlines())) > 300}
  long_functions = {
      f"{m}.{f.name}": f.end_lineno - f.lineno + 1 for m, p in files.items()
      for f in ast.walk(ast.parse(p.read_text()))
      if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.end_lineno - f.lineno >= 60}
  assert not long_modules and not long_functions, (long_modules, long_functions)
