"""The shape of the package: light imports, no import cycles, registries that match the config."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from snnsim import config
from snnsim.backends import BACKENDS
from snnsim.readouts import READOUT_ALIASES, READOUTS
from snnsim.studies import STUDIES

PACKAGE = Path(__file__).resolve().parents[1] / "snnsim"
LIGHT = (
    "snnsim.config",
    "snnsim.cli",
    "snnsim.errors",
    "snnsim.units",
    "snnsim.readouts",
    "snnsim.results",
    "snnsim.studies",
    "snnsim.backends",
    "snnsim.sweep.experiment",
    "snnsim.sweep.jobs",
    "snnsim.sweep.merge",
    "snnsim.sweep.cli",
    "snnsim.tune",
    "snnsim.plots.common",
    "snnsim.plots.ipd",
    "snnsim.plots.bmi",
    "snnsim.plots.costs",
)


def test_config_experiments_and_sweep_bookkeeping_import_without_torch():
    code = f"import sys; import {', '.join(LIGHT)}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "command", [["count", "smoke"], ["show", "smoke", "1"], ["show", "smoke", "--json"], ["status", "smoke"]]
)
def test_sweep_bookkeeping_runs_where_torch_is_absent(command, tmp_path):
    """``sys.modules['torch'] = None`` makes every ``import torch`` fail, as without torch."""
    code = (
        "import sys; sys.modules['torch'] = None; from snnsim.sweep.cli import main; "
        f"sys.exit(main(['--results-dir', {str(tmp_path)!r}, *{command!r}]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


@pytest.mark.parametrize("module", ["run", "sweep", "tune", "plots", "plot", "export", "predict"])
def test_every_commands_help_runs_where_torch_is_absent(module):
    """``--help`` answers at once: ``python -m snnsim.predict --help`` imported torch first (9.8 s
    on a loaded 2-core machine against 0.2 s for the others)."""
    code = (
        "import runpy, sys; sys.modules['torch'] = None; "
        f"sys.argv = ['snnsim.{module}', '--help']; runpy.run_module('snnsim.{module}', run_name='__main__')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: snnsim.")


@pytest.mark.parametrize(
    "argv", [["sweep", "--help"], ["sweep", "count", "no-such-experiment"], ["tune", "--help"], ["run", "--help"]]
)
def test_help_and_a_refusal_run_where_xarray_is_absent(argv):
    """``python -m snnsim.sweep --help`` (and its refusals) imported xarray through
    :mod:`snnsim.results` (0.6 s of a 0.9 s answer here): it loads where a file is read."""
    code = (
        "import runpy, sys; sys.modules['torch'] = None; sys.modules['xarray'] = None; "
        f"sys.argv = ['snnsim.{argv[0]}', *{argv[1:]!r}]; runpy.run_module('snnsim.{argv[0]}', run_name='__main__')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if argv[-1] == "--help":
        assert proc.returncode == 0 and proc.stdout.startswith("usage: snnsim."), proc.stderr
    else:
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("snnsim.sweep: error: no experiment file") and proc.stderr.count("\n") == 1


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_from(node: ast.ImportFrom, package: str) -> str:
    """The module a ``from ... import`` in a module of ``package`` names, relative ones resolved."""
    base = node.module or ""
    if node.level:
        anchor = package.split(".")
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join(anchor + ([base] if base else []))
    return base


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The snnsim modules a module imports at its top level (not inside functions: those run
    later, after every module has loaded)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("snnsim")}
        elif isinstance(node, ast.ImportFrom):
            base = _imported_from(node, package)
            if not base.startswith("snnsim"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in modules else base)
    return out & modules


def test_no_import_cycle_inside_the_package():
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: _imports(path, set(paths)) - {name} for name, path in paths.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert "snnsim.config" in graph and graph["snnsim.config"]  # the graph is not empty


def test_the_cycle_check_finds_a_cycle(tmp_path, monkeypatch):
    """The checker above is not vacuous: a package whose __init__ imports a module that imports
    the package back is reported."""
    pkg = tmp_path / "snnsim"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import a\nREGISTRY = {}\n")
    (pkg / "sub" / "a.py").write_text("from . import REGISTRY\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    with pytest.raises(AssertionError, match="import cycle: snnsim.sub -> snnsim.sub.a -> snnsim.sub"):
        test_no_import_cycle_inside_the_package()


def test_how_files_are_written_and_stops_are_held_import_no_command_line_code():
    """``atomic_write`` (under every command's writes) and ``signals`` (the stop signals) lie
    below the CLI: they import ``snnsim.cli`` nowhere, not even inside a function, where the
    cycle check above does not look (``atomic_write`` took ``signals_held`` from the CLI)."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    for name in ("snnsim.atomic_write", "snnsim.signals"):
        assert name in paths, name
        path = paths[name]
        package = name.rsplit(".", 1)[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = _imported_from(node, package)
                found |= {base} | {f"{base}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        assert "snnsim.cli" not in found, f"{name} imports snnsim.cli"


def test_the_config_takes_its_names_from_the_registries():
    assert config.STUDIES == tuple(STUDIES) == ("ipd", "bmi")
    assert config.BACKENDS == tuple(BACKENDS)
    assert config.READOUT_NAMES == tuple(READOUTS) + tuple(READOUT_ALIASES)
    assert set(READOUT_ALIASES.values()) <= set(READOUTS)


DOC = PACKAGE.parent / "docs" / "architecture.md"


def _section(title: str) -> str:
    text = DOC.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def _registry_rows() -> dict[str, tuple[str, str]]:
    """The page's registries table: name -> (module path, entries cell)."""
    rows = {}
    for line in _section("Registries").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = (cells[1].strip("`"), cells[2])
    return rows


def _named_registries() -> set[tuple[str, str]]:
    """(module path, name) of each registry in the package: a public module-level dict literal with
    string keys, in a module the config reads its accepted names from (imports), whose names an
    error lists (``', '.join(NAME)``)."""
    config_path = PACKAGE / "config.py"
    read = {_module_name(config_path)}
    for node in ast.walk(ast.parse(config_path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            read.add("snnsim." + (node.module or ""))
    found = set()
    for path in PACKAGE.rglob("*.py"):
        if _module_name(path) not in read:
            continue
        source = path.read_text()
        for node in ast.parse(source).body:
            target = (
                node.target
                if isinstance(node, ast.AnnAssign)
                else (node.targets[0] if isinstance(node, ast.Assign) else None)
            )
            value = getattr(node, "value", None)
            if not (isinstance(target, ast.Name) and isinstance(value, ast.Dict)) or target.id.startswith("_"):
                continue
            if value.keys and all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in value.keys):
                if f"join({target.id})" in source:
                    found.add((str(path.relative_to(PACKAGE.parent)), target.id))
    return found


def test_every_registry_of_the_package_is_in_the_registries_table():
    """docs/architecture.md's Registries table has a row for each registry, in the module it names,
    and none other: it lacked ``FAMILY``, the synthetic BMI data sets ``--data synthetic:NAME``
    accepts."""
    rows = _registry_rows()
    found = _named_registries()
    assert {("snnsim/backends/__init__.py", "BACKENDS"), ("snnsim/readouts.py", "READOUTS")} <= found
    assert found == {(path, name) for name, (path, _) in rows.items()}


def test_every_module_has_its_mirrored_test_file_or_the_page_says_where_its_tests_are():
    """docs/architecture.md said ``tests/`` mirrors the package, while 19 modules (``run.py``,
    ``seeding.py``, ``sweep/jobs.py``, ...) have no ``test_NAME.py`` of their own: each has its
    mirrored file or a row of the page's Tests table, and the files a row names exist."""
    tests = PACKAGE.parent / "tests"
    rows = {}
    for line in _section("Tests").splitlines():
        cells = line.strip().strip("|").split("|")
        if len(cells) == 2 and cells[0].strip().startswith("`"):
            for module in re.findall(r"`([\w/]+\.py)`", cells[0]):
                rows[module] = re.findall(r"`(tests/[\w/]+\.py)`", cells[1])
    unplaced, absent = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        module = path.relative_to(PACKAGE).as_posix()
        mirrored = tests / Path(module).parent / f"test_{path.name}"
        if module in rows:
            assert rows[module], f"the Tests table names no test file for {module}"
            absent += [t for t in rows[module] if not (PACKAGE.parent / t).is_file()]
        elif not mirrored.is_file():
            unplaced.append(module)
    assert not unplaced, f"no mirrored test file and no row in docs/architecture.md's Tests table: {unplaced}"
    assert not absent, f"docs/architecture.md's Tests table names test files that are not there: {absent}"


def test_the_page_names_every_field_of_a_fits_options():
    """ "A study" lists what ``fit`` is given in ``options`` (:class:`snnsim.training.FitOptions`);
    it lacked ``notes``, which a study reads before it prints a note on its settings (a BMI
    batch size above the training set's)."""
    from dataclasses import fields

    from snnsim.training import FitOptions

    text = " ".join(_section("How to add ...").split())
    described = re.search(r"\(`options`: a `training\.FitOptions` of (.*?)\): usually", text)
    assert described, "docs/architecture.md no longer says what a fit's options hold"
    named = set(re.findall(r"`(\w+)`", described.group(1)))
    assert named >= {"progress", "owned"}  # the pattern finds them
    missing = sorted(f.name for f in fields(FitOptions) if f.name not in named)
    assert not missing, f"docs/architecture.md does not name FitOptions' {missing}"


@pytest.mark.parametrize("argv", [[], ["--help"]])
def test_the_modules_row_of_python_dash_m_snnsim_gives_its_exit_codes(argv, monkeypatch, capsys):
    """The Modules table gave ``python -m snnsim`` as exit 2 alone; with ``--help`` it exits 0."""
    import runpy

    row = re.search(r"^\| `__main__\.py` \| (.*) \|$", DOC.read_text(), re.M)
    assert row, "docs/architecture.md's Modules table has no row __main__.py"
    monkeypatch.setattr(sys, "argv", ["snnsim", *argv])
    with pytest.raises(SystemExit) as stopped:
        runpy.run_module("snnsim", run_name="__main__")
    assert capsys.readouterr() != ("", "")  # it said something
    assert f"exit {stopped.value.code}" in row.group(1), row.group(1)


def test_a_backend_is_told_of_every_table_and_test_that_names_the_backends():
    """ "A backend" names each place a new backend must be added besides its module: the tables of
    ``snnsim/backends/__init__.py`` that name backends (it left out ``MODEL_SPACE``, so a new
    backend's model-space options were refused by the config), and the test files that list every
    backend by name (it named only the equivalence test, which takes them from ``BACKENDS``)."""
    text = " ".join(_section("How to add ...").split())
    paragraph = re.search(r"\*\*A backend\.\*\*(.*?)\*\*A study\.\*\*", text).group(1)
    named = set(re.findall(r"`([\w/.]+)`", paragraph))
    backends = set(BACKENDS)
    tables = []
    for node in ast.parse((PACKAGE / "backends" / "__init__.py").read_text()).body:
        if isinstance(node, ast.AnnAssign | ast.Assign) and isinstance(node.value, ast.Dict):
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            words = {c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant)}
            if isinstance(target, ast.Name) and words & backends:
                tables.append(target.id)
    assert {"BACKENDS", "MODEL_SPACE"} <= set(tables)
    listing = []
    for path in sorted((PACKAGE.parent / "tests").rglob("test_*.py")):
        for listed in re.findall(r'parametrize\(\s*"backend",\s*\[([^\]]*)\]', path.read_text()):
            if backends <= set(re.findall(r'"(\w+)"', listed)):
                listing.append(path.relative_to(PACKAGE.parent).as_posix())
                break
    assert "tests/backends/test_standard_neuron.py" in listing  # the pattern finds them
    missing = sorted(set(tables + listing) - named)
    assert not missing, f"docs/architecture.md's 'A backend' does not name {missing}"


def test_a_study_added_as_the_page_says_leaves_the_run_command_working():
    """ "A study" said a new study is a file and an entry in ``STUDIES``; with a third entry every
    setting's default ``studies`` is a tuple ``snnsim/run.py``'s ``GROUPS`` lacked, and
    ``python -m snnsim.run`` (``--help`` too) ended in a KeyError. A toy study is added here as
    the page says, ``GROUPS`` only where the page names it, and the command's parser is built."""
    text = " ".join(_section("How to add ...").split())
    paragraph = re.search(r"\*\*A study\.\*\*(.*?) The file provides", text).group(1)
    groups = "`GROUPS` of `snnsim/run.py`" in paragraph
    code = (
        "import snnsim.studies as s; s.STUDIES['toy'] = s.STUDIES['ipd']\n"
        "from snnsim import config, run\n"
        "assert config.STUDIES == ('ipd', 'bmi', 'toy')\n"
        f"if {groups}:\n"
        "    run.GROUPS[config.STUDIES] = run.GROUPS.pop(('ipd', 'bmi')); run.GROUPS[('toy',)] = 'toy'\n"
        "run.build_parser()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.strip().splitlines()[-1:]


def test_each_module_the_modules_table_says_has_no_torch_imports_without_it():
    """The Modules table says "no torch" of ``config.py`` and ``recipes.py``; the light-import test
    above covered the config but not ``snnsim.recipes``, which ``snnsim.run`` reads before torch."""
    table = _section("Modules")
    light = [
        "snnsim." + m.removesuffix(".py").replace("/", ".")
        for m, text in re.findall(r"^\| `([\w/]+\.py)` \| (.*) \|$", table, re.M)
        if "no torch" in text
    ]
    assert "snnsim.config" in light and "snnsim.recipes" in light  # the pattern finds them
    code = f"import sys; import {', '.join(light)}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", f"{light} import torch"


def test_the_page_names_every_model_a_study_builds():
    """The data path drew every model as ``network.py (Decoder)`` through ``backends/`` and
    ``readouts.py``; BMI's ``--model linear`` (``RidgeRegressor``, fitted in closed form) was not
    named anywhere, nor that it and ``--model ann`` leave that path. Each class a study's
    ``make_model`` builds is named on the page."""
    import importlib

    from torch import nn

    built = set()
    for path in sorted((PACKAGE / "studies").glob("*.py")):
        module = importlib.import_module(_module_name(path))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name == "make_model":
                calls = (c.func for c in ast.walk(node) if isinstance(c, ast.Call))
                names = {f.id for f in calls if isinstance(f, ast.Name)}
                built |= {n for n in names if isinstance(getattr(module, n, None), type)
                          and issubclass(getattr(module, n), nn.Module)}  # fmt: skip
    assert {"Decoder", "SNNRegressor"} <= built  # the walk finds them
    text = DOC.read_text()
    missing = sorted(name for name in built if f"`{name}`" not in text)
    assert not missing, f"docs/architecture.md does not name the models {missing}"
