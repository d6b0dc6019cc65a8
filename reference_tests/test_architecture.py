"""The package's import graph, read from the source: no cycles, no import of a higher layer,
and the library never imports the book.

Layers (README, "Architecture"): the library (backend, checks, functional, nn, models, crf,
optim, metrics, data, training, inference, ...) and, above it, the book ``minideeplab.paper``
(the paper's experiments, figures and tutorials' runner) and the command line
``minideeplab.cli`` / ``__main__``, which may use both. The graph is built with ``ast`` from
every ``import`` and ``from ... import`` statement, at module level and inside functions,
relative or absolute; nothing is imported to build it.
"""
import ast
from pathlib import Path

PACKAGE = "minideeplab"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE
BOOK = ("minideeplab.paper",)
TOP = ("minideeplab.paper", "minideeplab.cli", "minideeplab.__main__")   # may import anything
# The layers, bottom up (README, "Architecture"): a module may import its own layer and the
# layers below it, never one above. A new top-level module or sub-package gets a layer here.
LAYERS = (
    # user errors, devices, threads, atomic writes, the user's files, .pth, the readers' budgets,
    # clocks, progress bars, Ctrl-C and SIGTERM
    ("errors", "backend", "parallel", "fileio", "io", "pth", "budgets", "timing", "progress",
     "interrupt"),
    ("checks",),                               # argument checks
    ("functional", "preprocess", "gradcheck"),  # the math: ops and their backward passes
    ("nn", "minideeplab"),                     # layers (the package root loads up to nn)
    ("models",),                               # DeepLab networks
    ("crf", "optim", "metrics", "data", "checkpoint"),
    ("config", "train", "inference"),          # training, prediction, evaluation
    ("paper",),                                # the book
    ("cli", "__main__"),                       # the command line
)


def module_names(root, package=PACKAGE):
    """{dotted module name: path} for every .py file below ``root`` (packages by __init__)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join([package] + parts)] = path
    return names


def _resolve(module, is_package, node):
    """The absolute module an ImportFrom names (``from ..x import y`` in ``module``)."""
    if node.level == 0:
        return node.module
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(root, package=PACKAGE):
    """{module: set of modules of the package it imports} from the source below ``root``.

    ``from pkg import name`` counts as an import of ``pkg.name`` when that is a module and of
    ``pkg`` otherwise; ``import pkg.a.b`` as an import of ``pkg.a.b``. Importing a module also
    runs the ``__init__`` of every package above it, so those count too, except the packages
    that contain the importer (they are being imported already).
    """
    names = module_names(root, package)
    graph = {}
    for module, path in names.items():
        is_package = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(module, is_package, node)
                targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in names
                           else source for alias in node.names]
            else:
                continue
            for target in targets:
                parts = target.split(".")
                for k in range(1, len(parts) + 1):
                    t = ".".join(parts[:k])
                    if t in names and t != module and not _within(module, (t,)):
                        edges.add(t)
        graph[module] = edges
    return graph


def find_cycles(graph):
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def _within(module, prefixes):
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def forbidden_edges(graph, book=BOOK, top=TOP):
    """(importer, imported) pairs where a library module imports the book or the command line."""
    return sorted((a, b) for a, edges in graph.items() if not _within(a, top)
                  for b in edges if _within(b, top))


def layer_of(module, layers=LAYERS):
    """The layer index of ``minideeplab.x...`` (by its top-level part x), or None."""
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else parts[0]
    return next((i for i, names in enumerate(layers) if name in names), None)


def upward_edges(graph, layers=LAYERS):
    """(importer, imported) pairs where a module imports a layer above its own."""
    return sorted((a, b) for a, edges in graph.items() for b in edges
                  if layer_of(b, layers) > layer_of(a, layers))


# ----------------------------------------------------------------------------- the package
def test_the_package_has_no_import_cycle():
    graph = import_graph(ROOT)
    assert len(graph) > 50 and "minideeplab.functional.conv" in graph
    assert find_cycles(graph) == [], "import cycles (break them by moving the shared code down)"


def test_the_library_never_imports_the_book_or_the_command_line():
    assert forbidden_edges(import_graph(ROOT)) == []


def test_every_module_imports_only_its_layer_and_below():
    graph = import_graph(ROOT)
    unplaced = sorted(m for m in graph if layer_of(m) is None)
    assert unplaced == [], "give these modules a layer in LAYERS (and in the README)"
    assert upward_edges(graph) == []


def test_the_graph_sees_the_imports_it_must():
    """Known edges of the real package, of each kind the parser handles."""
    graph = import_graph(ROOT)
    assert "minideeplab.functional.im2col" in graph["minideeplab.functional.conv"]   # from .x
    assert "minideeplab.functional.im2col" in graph["minideeplab.functional.deinterlace"]
    assert "minideeplab.backend" in graph["minideeplab.checks"]             # from . import x
    assert "minideeplab.checks" in graph["minideeplab.functional.conv"]     # from ..x import y
    assert "minideeplab.inference" in graph["minideeplab.train"]


# ----------------------------------------------------------------------------- the checker
def _write(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_checker_finds_a_cycle_through_a_function_level_import(tmp_path):
    root = tmp_path / "pkg"
    _write(root, {"__init__.py": "", "a.py": "def f():\n    from . import b\n",
                  "b.py": "from .c import g\n", "c.py": "import pkg.a\n",
                  "d.py": "from . import a\n"})
    graph = import_graph(root, "pkg")
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.c"] == {"pkg.a"}
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
    assert find_cycles({"x": {"y"}, "y": set()}) == []


def test_checker_finds_a_library_module_importing_the_book(tmp_path):
    root = tmp_path / "minideeplab"
    _write(root, {"__init__.py": "", "train.py": "from .paper.figures import plot\n",
                  "paper/__init__.py": "from ..train import x\n", "paper/figures.py": "",
                  "cli/__init__.py": "from ..paper import figures\n",
                  "data/__init__.py": "", "data/voc.py": "def f():\n    from ..cli import main\n"})
    graph = import_graph(root)
    assert forbidden_edges(graph) == [("minideeplab.data.voc", "minideeplab.cli"),
                                      ("minideeplab.train", "minideeplab.paper"),
                                      ("minideeplab.train", "minideeplab.paper.figures")]
    assert graph["minideeplab.train"] == {"minideeplab.paper", "minideeplab.paper.figures"}
    assert find_cycles(graph) == [["minideeplab.paper", "minideeplab.train"]]


def test_checker_finds_an_upward_import():
    graph = {"minideeplab.nn.conv": {"minideeplab.functional.conv", "minideeplab.models.vgg"},
             "minideeplab.functional.conv": {"minideeplab.checks"},
             "minideeplab.models.vgg": {"minideeplab.nn"}, "minideeplab.checks": set(),
             "minideeplab.nn": {"minideeplab.nn.conv"}}
    assert upward_edges(graph) == [("minideeplab.nn.conv", "minideeplab.models.vgg")]
    assert find_cycles(graph) == [["minideeplab.models.vgg", "minideeplab.nn",
                                   "minideeplab.nn.conv"]]
