"""Layers import one way: a module may import its own layer and the layers below it, never one above.

The layers, lowest first (`ORDER`), and which layer each part of src/lorascope belongs to (`LAYER_OF`) are
data here, so adding a module means naming its layer. Every import counts, also the ones inside functions:
a lazy import of a higher layer is the same cycle, only later. `report` reads result files and runs no
analysis, so it may import only the base utilities and the result types (`ONLY`).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "lorascope"

ORDER = (
    "base",         # errors, files, caches, memory checks, executors: import nothing else of lorascope
    "spectral",     # pure tensor maths: the intruder test, ΔW statistics, SVD solvers
    "results",      # what a scan returns (typed results, their JSON) and how the terminal shows it
    "report",       # the HTML report: reads result files and runs no analysis (see ONLY)
    "weights",      # reading and writing checkpoints and adapters, pairing base and tuned tensors
    "index",        # the on-disk index of base spectra
    "training",     # components of fine-tuning runs: data, models, optimiser, the intruder probe
    "pipelines",    # one user-facing job each: scan, index, scale, train, forget
    "experiments",  # what recipes share: experiment files, job grids, tables, statistics
    "recipes",      # the paper's experiments, running experiment files, reproducing the claims
    "api",          # the package root: `import lorascope` for notebooks
    "commands",     # the CLI: Typer commands and their entry point
)

# Module (dotted path under lorascope, "" for the package root itself) -> layer; the longest matching prefix wins.
LAYER_OF = {
    "": "api",
    "_version": "base", "errors": "base", "atomic": "base", "finite": "base", "cache": "base", "memory": "base",
    "resources": "base", "datasets": "base", "datafiles": "base", "executor": "base", "ray_executor": "base",
    "json_fields": "base", "correlation": "base", "folder_lock": "base", "evidence": "base",
    "spectral": "spectral",
    "results": "results", "display": "results",
    "weights": "weights",
    "index": "index",
    "training": "training", "monitor": "training",
    "pipelines": "pipelines",
    "experiments": "experiments",
    "recipes": "recipes",
    "report": "report",
    "commands": "commands", "cli": "commands",
}

# Layers allowed to import only these layers (besides their own), whatever their place in ORDER.
ONLY = {"report": ("base", "results")}


def module_name(path: Path) -> str:
    """`src/lorascope/pipelines/scan.py` -> `pipelines.scan`; a package's __init__ is the package."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    """The layer of a module under lorascope (None when LAYER_OF does not place it)."""
    if not module:
        return LAYER_OF[""]
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in LAYER_OF:
            return LAYER_OF[prefix]
    return None


def _is_module(dotted: str) -> bool:
    path = SRC.joinpath(*dotted.split(".")) if dotted else SRC
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module under lorascope) for every lorascope import in the file, including lazy ones."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "lorascope"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(["lorascope", *base, *([node.module] if node.module else [])])
            elif node.module and node.module.split(".")[0] == "lorascope":
                target = node.module
            else:
                continue
            for alias in node.names:  # `from lorascope import datasets` imports the submodule, not the root
                sub = f"{target}.{alias.name}".removeprefix("lorascope").lstrip(".")
                found.append((node.lineno, f"lorascope.{sub}" if _is_module(sub) else target))
    return sorted({(line, name.removeprefix("lorascope").lstrip(".")) for line, name in found})


def _dotted(module: str) -> str:
    return f"lorascope.{module}" if module else "lorascope"


def allowed(importer: str, imported: str) -> bool:
    """Whether a module of layer `importer` may import one of layer `imported`."""
    if importer == imported:
        return True
    if importer in ONLY:
        return imported in ONLY[importer]
    return ORDER.index(imported) < ORDER.index(importer)


def violations() -> tuple[list[str], list[str]]:
    """(modules LAYER_OF does not place, imports that go up a layer), each as a readable line."""
    unplaced, upward = [], []
    for path in sorted(SRC.rglob("*.py")):
        module = module_name(path)
        mine = layer_of(module)
        if mine is None:
            unplaced.append(f"{path.relative_to(SRC.parent)}: no layer for 'lorascope.{module}' in LAYER_OF")
            continue
        for line, target in imported_modules(path):
            theirs = layer_of(target)
            if theirs is not None and not allowed(mine, theirs):
                upward.append(f"{path.relative_to(SRC.parent)}:{line}: {_dotted(module)} ({mine}) imports "
                              f"{_dotted(target)} ({theirs})")
    return unplaced, upward


def test_every_module_has_a_layer():
    unplaced, _ = violations()
    assert not unplaced, "place these modules in tests/test_layers.py LAYER_OF:\n" + "\n".join(unplaced)


def test_no_layer_imports_a_higher_one():
    _, upward = violations()
    rule = " <- ".join(ORDER) + f"; report may import only {', '.join(ONLY['report'])}"
    assert not upward, f"imports against the layer order ({rule}):\n" + "\n".join(upward)


def test_the_walk_sees_lazy_relative_and_submodule_imports(tmp_path, monkeypatch):
    """The checker itself: a function-level import of a higher layer, a relative import and `from lorascope
    import <submodule>` are all found and attributed to the right layer."""
    pkg = tmp_path / "lorascope"
    (pkg / "spectral").mkdir(parents=True)
    (pkg / "report").mkdir()
    (pkg / "pipelines").mkdir()
    for init in (pkg, pkg / "spectral", pkg / "report", pkg / "pipelines"):
        (init / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("")
    (pkg / "pipelines" / "scan.py").write_text("")
    (pkg / "spectral" / "bad.py").write_text("def f():\n    from lorascope.pipelines.scan import x\n")
    (pkg / "spectral" / "ok.py").write_text("from . import bad\nfrom lorascope import errors\n")
    (pkg / "report" / "bad.py").write_text("from ..spectral import ok\n")
    monkeypatch.setitem(globals(), "SRC", pkg)
    unplaced, upward = violations()
    assert unplaced == []
    assert upward == [
        "lorascope/report/bad.py:1: lorascope.report.bad (report) imports lorascope.spectral.ok (spectral)",
        "lorascope/spectral/bad.py:2: lorascope.spectral.bad (spectral) imports lorascope.pipelines.scan (pipelines)"]
