"""What the documentation names exists: every repository file that README.md, docs/, the
benchmarks' README, the experiment files' comments and the docstrings of snnsim/ and
analysis/ point a reader to, and every test named as ``FILE.py::test_name``. (CHANGELOG.md is
history: it names files that are gone on purpose.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted(
    [ROOT / "README.md", ROOT / "benchmarks" / "README.md"]
    + list((ROOT / "docs").glob("*.md"))
    + list((ROOT / "experiments").glob("*.toml"))
    + list((ROOT / "analysis").glob("*.py"))
    + list((ROOT / "snnsim").rglob("*.py"))
)
#: A path into the repository: a top-level folder, then a file with one of the repository's kinds.
PATH = re.compile(
    r"(?<![\w./-])((?:snnsim|tests|analysis|benchmarks|experiments|slurm|docs)/[\w/.-]*?\.(?:py|toml|sh|md|ipynb|png))"
    r"(?:::(\w+))?"
)


def named_paths(text: str) -> list[tuple[str, str | None]]:
    """The repository paths (and ``::test`` names) a text names; placeholders (NAME) skipped."""
    return [(p, test) for p, test in PATH.findall(text) if "NAME" not in p]


def test_the_pattern_finds_paths_and_test_names():
    text = "see `tests/functional/test_cell.py::test_x`, docs/figures/a.png and experiments/NAME.toml"
    assert named_paths(text) == [("tests/functional/test_cell.py", "test_x"), ("docs/figures/a.png", "")]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_file_and_test_a_document_names_exists(document):
    text = document.read_text()
    for path, test in named_paths(text):
        target = ROOT / path
        if not target.exists() and (document.parent / path).exists():
            target = document.parent / path  # docs/*.md name their figures relative to docs/
        assert target.exists(), f"{document.relative_to(ROOT)} names {path}, which does not exist"
        if test:
            assert re.search(rf"^\s*(?:async )?def {test}\(", target.read_text(), re.M), (
                f"{document.relative_to(ROOT)} names {path}::{test}, which is not a test there"
            )


def _sizes(text: str, sep: str) -> dict[str, int]:
    """``{name: size}`` of a list such as ``a: 3, b: 2`` (``sep`` ``:``) or ``a=3, b=2`` (``=``)."""
    return {k.strip(): int(v) for k, v in (item.split(sep) for item in re.split(r",\s*", text.strip()))}


def test_the_merged_ipd_dataset_in_sweeps_md_is_what_merge_gives():
    """docs/sweeps.md's picture of the merged ``ipd_readouts`` (its dimensions and sizes, its
    variables, and the line ``sweep merge`` printed) is that of the experiment's job files now."""
    from snnsim import runner
    from snnsim.sweep.experiment import load

    text = (ROOT / "docs" / "sweeps.md").read_text()
    block = re.search(r"^```\nDimensions: (.*?)\nCoordinates: .*?\nData: (.*?)\n```", text, re.M | re.S)
    dims = _sizes(re.sub(r"\s+", " ", block.group(1)), ":")
    data = {v for v in re.findall(r"\b(\w+)(?: \([^)]*\))?(?:,|$)", re.sub(r"\s+", " ", block.group(2)))}
    printed = re.search(r"The merged `ipd_readouts` printed `([^`]*)`", text)
    assert printed, "docs/sweeps.md no longer quotes the line the merge of ipd_readouts printed"

    exp = load("ipd_readouts")
    # job 0's settings, on a data set small enough to train in a second: the sizes stay its own
    ds = runner.run(exp.config(0).replace(n_train_batches=1, n_test_batches=1, batch_size=8), progress=False)
    merged = {**{k: len(v) for k, v in exp.swept.items()}, **ds.sizes}
    assert dims == merged
    assert _sizes(re.sub(r"\s+", " ", printed.group(1)), "=") == merged
    assert data == set(ds.data_vars) | {"job_index"}


#: Every command a reader runs, as ``python -m MODULE`` or ``python SCRIPT``.
COMMANDS = [f"snnsim.{m}" for m in ("run", "sweep", "tune", "plots", "predict", "export")] + sorted(
    str(p.relative_to(ROOT))
    for p in list((ROOT / "analysis").glob("*.py")) + list((ROOT / "benchmarks").glob("*.py"))
    if not p.name.startswith("_") and "def main(" in p.read_text()
)


@pytest.mark.filterwarnings(
    "ignore:.*found in sys.modules after import:RuntimeWarning"
)  # runpy of a __main__ imported before
@pytest.mark.parametrize("command", COMMANDS)
def test_help_describes_a_command_with_its_docstrings_first_paragraph(command, monkeypatch, capsys):
    """``--help`` opens with the command's description whole: the first paragraph of its
    docstring, not its first line, which often stops mid-sentence."""
    import ast
    import runpy
    import sys

    if command.endswith(".py"):
        path = ROOT / command
        monkeypatch.setattr(sys, "argv", [str(path), "--help"])
        monkeypatch.syspath_prepend(str(path.parent))
        launch = lambda: runpy.run_path(str(path), run_name="__main__")  # noqa: E731
    else:
        module = {"snnsim.plots": "snnsim.plots.__main__", "snnsim.sweep": "snnsim.sweep.__main__"}.get(
            command, command
        )
        parser_in = {"snnsim.sweep": "snnsim.sweep.cli"}.get(command, module)  # the module whose docstring it shows
        path = ROOT / (parser_in.replace(".", "/") + ".py")
        monkeypatch.setattr(sys, "argv", [command, "--help"])
        launch = lambda: runpy.run_module(module, run_name="__main__", alter_sys=False)  # noqa: E731
    doc = ast.get_docstring(ast.parse(path.read_text()))
    with pytest.raises(SystemExit) as stopped:
        launch()
    assert stopped.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert " ".join(doc.strip().split("\n\n")[0].split()) in shown


def _environment_variables_read(path: Path) -> set[str]:
    """The environment variables a module reads: ``os.environ.get(X)``, ``os.getenv(X)``,
    ``os.environ[X]`` and ``X in os.environ``, where X is a string, a module-level string constant,
    or the variable of a comprehension over a module-level tuple of strings."""
    import ast

    tree = ast.parse(path.read_text())
    constants: dict[str, tuple[str, ...]] = {}
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, (ast.Constant, ast.Tuple)):
            values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
            if all(isinstance(v, ast.Constant) and isinstance(v.value, str) for v in values):
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    if isinstance(target, ast.Name):
                        constants[target.id] = tuple(v.value for v in values)

    def is_environ(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ"

    found: set[str] = set()

    def names(key: ast.AST, loop: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return (key.value,)
        if isinstance(key, ast.Name):
            return loop.get(key.id) or constants.get(key.id) or ()
        return ()

    def visit(node: ast.AST, loop: dict[str, tuple[str, ...]]) -> None:
        if isinstance(node, (ast.GeneratorExp, ast.ListComp, ast.SetComp, ast.DictComp)):
            loop = dict(loop)
            for gen in node.generators:
                if isinstance(gen.target, ast.Name) and isinstance(gen.iter, ast.Name):
                    loop[gen.target.id] = constants.get(gen.iter.id, ())
        if isinstance(node, ast.Call) and node.args:
            f = node.func
            if isinstance(f, ast.Attribute) and (
                (f.attr == "get" and is_environ(f.value)) or (f.attr == "getenv" and not is_environ(f.value))
            ):
                found.update(names(node.args[0], loop))
        elif isinstance(node, ast.Subscript) and is_environ(node.value):
            found.update(names(node.slice, loop))
        elif isinstance(node, ast.Compare) and any(isinstance(op, ast.In) for op in node.ops):
            if any(is_environ(c) for c in node.comparators):
                found.update(names(node.left, loop))
        for child in ast.iter_child_nodes(node):
            visit(child, loop)

    visit(tree, {})
    return found


def test_the_environment_check_finds_every_way_a_module_reads_a_variable(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "import os\nONE = 'A_ONE'\nMANY = ('A_TWO', 'A_THREE')\n"
        "x = os.environ.get(ONE)\ny = os.getenv('A_FOUR', '')\nz = os.environ['A_FIVE']\n"
        "w = any(n in os.environ for n in MANY)\nv = 'A_SIX' in os.environ\n"
    )
    assert _environment_variables_read(module) == {"A_ONE", "A_TWO", "A_THREE", "A_FOUR", "A_FIVE", "A_SIX"}


def test_every_environment_variable_snnsim_reads_is_documented():
    """What ``snnsim/`` and the ``slurm/`` scripts read from the environment is named in README.md or
    docs/, where a user looks for it (the README's table gives each one's meaning and default)."""
    read = set().union(*(_environment_variables_read(p) for p in (ROOT / "snnsim").rglob("*.py")))
    for script in (ROOT / "slurm").glob("*.sh"):
        read |= set(re.findall(r"\$\{?(SNNSIM_\w+)", script.read_text()))
    assert {"SNNSIM_THREADS", "SNNSIM_RESULTS", "SNNSIM_CACHE"} <= read  # the check sees the code
    documents = " ".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    documented = set(re.findall(r"\b[A-Z][A-Z0-9_]*_?\b", documents))
    missing = sorted(read - documented)
    assert not missing, f"read from the environment but named in neither README.md nor docs/: {missing}"


def _exit_codes(text: str) -> set[int]:
    """The codes of a list such as ``0 success; 1 a run failed; ...; 130 interrupted``."""
    return {int(code) for code in re.findall(r"(?:^|;\s+)(\d+) ", text)}


def test_the_exit_codes_in_the_readme_and_errors_py_are_the_codes_snnsim_uses():
    """The README's list and the table of snnsim/errors.py's docstring give exactly the codes of
    its ``EXIT_*`` constants (128 + N, a signal's, aside)."""
    from snnsim import errors

    codes = {value for name, value in vars(errors).items() if name.startswith("EXIT_")}
    assert codes >= {0, 2, 130}
    table = re.findall(r"^(\d+)\s{2,}\S", errors.__doc__, re.M)
    assert {int(c) for c in table} == codes, "snnsim/errors.py's table and its EXIT_* constants differ"
    listed = re.search(r"Exit codes of every command[^:]*: (.*?)\.\n\n", (ROOT / "README.md").read_text(), re.S)
    assert listed, "README.md no longer lists the exit codes"
    assert _exit_codes(" ".join(listed.group(1).split())) == codes


def test_every_list_of_exit_codes_gives_both_causes_of_code_4():
    """Exit code 4 (:class:`~snnsim.errors.DivergedError`) is a training gone NaN or infinite, or
    one whose first epoch changed no weight (``training._check_moved``: ``--lr`` too small). The
    README said so; errors.py's table, the error's docstring, training.py's and docs/sweeps.md's
    lists named divergence alone."""
    from snnsim import errors, training

    readme = " ".join((ROOT / "README.md").read_text().split())
    sweeps = " ".join((ROOT / "docs" / "sweeps.md").read_text().split())
    table = re.search(r"^4\s{2,}(.*?)^5\s", errors.__doc__, re.M | re.S)
    divergence = re.search(r"\*\*Divergence\.\*\*(.*?)- \*\*", training.__doc__, re.S)
    texts = {
        "README.md": re.search(r"; 4 (.*?); 5 ", readme).group(1),
        "docs/sweeps.md": re.search(r"; 4 (.*?); 5 ", sweeps).group(1),
        "errors.py's table": table.group(1),
        "DivergedError": errors.DivergedError.__doc__,
        "training.py": divergence.group(1),
    }
    for where, text in texts.items():
        text = " ".join(text.split())
        assert "diverged" in text or "NaN" in text, (where, text)
        assert "first epoch changed no weight" in text or "none of whose weights changed" in text, (where, text)


def test_the_readme_names_every_attribute_of_a_result_file(tmp_path):
    """README.md's ``Attributes:`` paragraph names exactly the global attributes that
    results.write gives a file with the provenance of a run (each setting's ``config_<name>``
    aside; ``gpu`` only on a GPU)."""
    import numpy as np
    import xarray as xr

    from snnsim import results
    from snnsim.config import RunConfig

    ds = xr.Dataset({"test_acc": ("repeat", np.array([50.0]))}, coords={"repeat": [0]})
    ds.attrs.update(results.provenance_attrs(RunConfig(), "cpu"))
    written = set(results.load(results.write(ds, tmp_path / "run.h5")).attrs)
    paragraph = re.search(r"^Attributes: (.*?)\n\n", (ROOT / "README.md").read_text(), re.M | re.S)
    assert paragraph, "README.md no longer lists a result file's attributes"
    named = set(re.findall(r"`(\w+)(?: = 1)?`", paragraph.group(1))) - {"RunConfig"}
    assert named == {a for a in written if not a.startswith("config_")} | {"gpu"}


def test_the_registries_architecture_md_and_the_readme_list_are_the_registries():
    """Every list of a registry's names in docs/architecture.md (its Registries table and the data
    path diagram) and in the README's flags (``--readout a|b``) is exactly that registry's."""
    from snnsim.backends import BACKENDS
    from snnsim.datasets.bmi_synthetic import FAMILY
    from snnsim.readouts import READOUT_ALIASES, READOUTS
    from snnsim.studies import STUDIES

    text = (ROOT / "docs" / "architecture.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| `snnsim/[\w/.]+` \| (.*) \|$", text, re.M))
    assert set(rows) == {"STUDIES", "BACKENDS", "READOUTS", "FAMILY"}, (
        "architecture.md's Registries table changed shape"
    )
    assert re.findall(r"`(\w+)`,? ", rows["STUDIES"].split("(")[0]) == list(STUDIES)
    assert re.findall(r"`(\w+)`,? ", rows["FAMILY"].split("(")[0]) == list(FAMILY)
    assert re.findall(r"`(\w+)`,? ", rows["BACKENDS"].split("(")[0]) == list(BACKENDS)
    readouts, aliases = rows["READOUTS"].split("; `READOUT_ALIASES`: ")
    assert re.findall(r"`(\w+)`", readouts) == list(READOUTS)
    assert dict(re.findall(r"`(\w+)` -> `(\w+)`", aliases)) == READOUT_ALIASES

    diagram = re.search(r"^```\n(.*?)^```", text, re.M | re.S).group(1)
    for module, names in (("readouts.py", READOUTS), ("backends/", BACKENDS)):
        listed = re.search(rf"{re.escape(module)} \(([\w |]+)\)", diagram)
        assert listed and listed.group(1).split(" | ") == list(names), f"the diagram's {module} list"

    readme = (ROOT / "README.md").read_text()
    for flag, names in (("--study", STUDIES), ("--backend", BACKENDS), ("--readout", [*READOUTS, *READOUT_ALIASES])):
        listed = re.search(rf"`{flag} ([\w|-]+)`", readme)
        assert listed and set(listed.group(1).split("|")) == set(names), f"the README's {flag} values"


def test_architecture_md_names_every_module_of_the_package():
    """Each module and subpackage directly under snnsim/ has its row in docs/architecture.md's
    Modules table (``snnsim.plot``, the old name of ``snnsim.plots``, is named in that row)."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    table = re.search(r"^## Modules\n(.*?)^## ", text, re.M | re.S).group(1)
    named = set(re.findall(r"`(\w+\.py|\w+/)`", table)) | set(re.findall(r"`snnsim\.(\w+)`", table))
    package = ROOT / "snnsim"
    modules = {p.name for p in package.glob("*.py") if p.name != "__init__.py"}
    modules |= {f"{p.name}/" for p in package.iterdir() if (p / "__init__.py").exists()}
    missing = sorted(m for m in modules if m not in named and m.removesuffix(".py") not in named)
    assert not missing, f"docs/architecture.md's Modules table does not name {missing}"


def test_architecture_md_names_every_module_of_each_subpackage_in_its_row():
    """The row of each subpackage (``backends/``, ``sweep/``, ...) in docs/architecture.md's
    Modules table names each of its modules (``__init__.py`` and ``__main__.py`` aside): the rows
    said what a subpackage holds but not in which file, and ``backends/`` left its compiled
    kernels (``_native.py``), the sparse input sums and the whole-network operation unnamed."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    table = re.search(r"^## Modules\n(.*?)^## ", text, re.M | re.S).group(1)
    rows = dict(re.findall(r"^\| `(\w+)/` \| (.*) \|$", table, re.M))
    missing = []
    for package in sorted(p for p in (ROOT / "snnsim").iterdir() if (p / "__init__.py").exists()):
        assert package.name in rows, f"docs/architecture.md's Modules table has no row {package.name}/"
        named = set(re.findall(r"`(\w+\.py)`", rows[package.name]))
        modules = {p.name for p in package.glob("*.py")} - {"__init__.py", "__main__.py"}
        missing += [f"{package.name}/{m}" for m in sorted(modules - named)]
    assert not missing, f"docs/architecture.md's Modules table does not name {missing}"


def _unresolved(names: set[str]) -> list[str]:
    """The dotted names ``snnsim.a.b`` that are neither a module nor an attribute of one."""
    import importlib

    out = []
    for name in sorted(names):
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
                break
            except ImportError:
                continue
        for part in parts[i:]:
            if not hasattr(obj, part):
                out.append(name)
                break
            obj = getattr(obj, part)
    return out


def test_every_snnsim_name_the_docs_give_exists():
    """Each ``snnsim.module`` / ``snnsim.module.attribute`` README.md and docs/ name is there."""
    assert _unresolved({"snnsim.results.load", "snnsim.results.no_such_thing"}) == ["snnsim.results.no_such_thing"]
    names = set()
    for document in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        names |= set(re.findall(r"(?<![\w/.])(snnsim(?:\.[A-Za-z_]\w*)+)(?![\w-])", document.read_text()))
    names = {n for n in names if not n.endswith((".py", ".h5", ".toml", ".md"))}
    assert "snnsim.runner.run_configs" in names  # the pattern finds them
    assert not _unresolved(names), f"named in the docs but not in the package: {_unresolved(names)}"


#: A shell variable a documented command uses and the code block defines (``COMMON="..."``).
_ASSIGNMENT = re.compile(r'^(\w+)="([^"]*)"$', re.M)
#: A command of snnsim or of a repository script, as a reader copies it from a document.
_COMMAND = re.compile(r"python3? (-m snnsim(?:\.\w+)+|(?:analysis|benchmarks)/\w+\.py)\b([^`#\n]*)")


def documented_commands(text: str) -> list[tuple[str, str]]:
    """The ``(command, arguments)`` of every snnsim command and repository script a document
    shows, in its code blocks (continued lines joined, comments cut, ``$VAR`` expanded from the
    block's assignments) and inline (`` `python -m snnsim.run --tau 2ms` ``)."""
    found = []
    blocks = re.findall(r"^[ \t]*```\w*\n(.*?)^[ \t]*```", text, re.S | re.M)  # also a list item's block
    variables = dict(_ASSIGNMENT.findall("\n".join(blocks)))  # prose names them too: `$COMMON --model ann`
    inline = re.sub(r"\s*\n\s*", " ", re.sub(r"^[ \t]*```.*?^[ \t]*```", "", text, flags=re.S | re.M))
    for chunk in [*blocks, *re.findall(r"`([^`]*python[^`]*)`", inline)]:
        chunk = re.sub(r"\\\n\s*", " ", chunk)
        for line in chunk.splitlines():
            line = re.sub(r"\$(\w+)", lambda m: variables.get(m.group(1), "1"), line)
            for command, args in _COMMAND.findall(line):
                args = re.split(r"\s&&|;|\s\|\s|\)", args)[0]  # the next command, or the end of $(...)
                found.append((command.removeprefix("-m "), " ".join(args.split())))
    return found


def _as_typed(args: str) -> list[str]:
    """A documented command's arguments with its placeholders made values: ``[--json]`` ->
    ``--json``, ``snn|ann|linear`` -> ``snn``, ``{cpu,cuda}`` -> ``cpu``, an upper-case
    placeholder (``INDEX``, ``R``, ``FILE``) or a count made of one (``60/P``) -> ``1``; ``...`` and
    ``[changes]`` dropped."""
    import shlex

    args = args.replace("[changes]", "").replace("\\|", "|")
    args = re.sub(r"\s\|\s+\S+", "", args).replace("[", "").replace("]", "")
    tokens: list[str] = []
    for token in shlex.split(args):
        token = re.sub(r"\{([^,}]*),[^}]*\}", r"\1", token).split("|")[0]
        if token == "..." and tokens and tokens[-1].startswith("--"):
            token = "1"  # an option's value: --sbatch-args '...'
        if token in ("...", ""):
            continue
        tokens.append("1" if re.fullmatch(r"(?:\d+/)?[A-Z][A-Z0-9_]*", token) else token)
    return tokens


class _Parsed(Exception):
    """Raised in place of running a command once its arguments parsed."""


def parse_error(command: str, args: list[str]) -> str | None:
    """The one-line error of ``command``'s own parser on ``args``, or None where they parse. The
    command is run as a reader runs it (``python -m`` or the script), up to its parser."""
    import argparse
    import contextlib
    import io
    import runpy
    import sys
    from unittest import mock

    def parsed(self, args=None, namespace=None):  # noqa: ANN001, ANN202
        raise _Parsed(ORIGINAL_PARSE(self, args, namespace))

    ORIGINAL_PARSE = argparse.ArgumentParser.parse_args  # noqa: N806
    err = io.StringIO()
    module = {"snnsim.plots": "snnsim.plots.__main__", "snnsim.sweep": "snnsim.sweep.__main__"}.get(command, command)
    with (
        mock.patch.object(argparse.ArgumentParser, "parse_args", parsed),
        mock.patch.object(sys, "argv", [command, *args]),
        mock.patch.object(sys, "path", [str(ROOT / Path(command).parent), *sys.path]),
        contextlib.redirect_stderr(err),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        try:
            if command.endswith(".py"):
                runpy.run_path(str(ROOT / command), run_name="__main__")
            else:
                runpy.run_module(module, run_name="__main__", alter_sys=False)
        except _Parsed:
            return None
        except SystemExit:
            return err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else "exited before parsing"
    return "ran without parsing its arguments"


@pytest.mark.filterwarnings("ignore:.*found in sys.modules after import:RuntimeWarning")
def test_the_documented_commands_are_found_and_a_wrong_flag_is_caught():
    text = (
        '```bash\nA="--epochs 2"\npython -m snnsim.run $A --tau 2ms \\\n    --out r.h5   # comment\n```\n'
        "and `python -m snnsim.sweep show EXP [INDEX] [--json]`, `python analysis/bmi_table.py FILE.h5 ...`\n"
        "- a list item's block:\n\n  ```\n  perf stat python -m snnsim.plots r.h5 --dpi 90\n  ```\n"
    )
    assert documented_commands(text) == [
        ("snnsim.run", "--epochs 2 --tau 2ms --out r.h5"),
        ("snnsim.plots", "r.h5 --dpi 90"),
        ("snnsim.sweep", "show EXP [INDEX] [--json]"),
        ("analysis/bmi_table.py", "FILE.h5 ..."),
    ]
    assert _as_typed("show EXP [INDEX] [--force \\| --rerun-stale] --model snn|ann --device {cpu,cuda} --pack 60/P") == [
        "show", "1", "1", "--force", "--model", "snn", "--device", "cpu", "--pack", "1",
    ]  # fmt: skip
    assert parse_error("snnsim.run", ["--tau", "2ms"]) is None
    assert "unrecognized arguments: --no-such-flag" in parse_error("snnsim.run", ["--no-such-flag"])
    assert "invalid choice" in parse_error("snnsim.export", ["r.h5", "--format", "onnx", "--out", "m"])
    assert "unrecognized arguments: --bogus" in parse_error("analysis/bmi_table.py", ["a.h5", "--bogus"])


@pytest.mark.filterwarnings("ignore:.*found in sys.modules after import:RuntimeWarning")
@pytest.mark.parametrize(
    "document",
    [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_every_command_a_document_shows_parses(document):
    """Each ``python -m snnsim.X ...`` and ``python analysis|benchmarks/SCRIPT.py ...`` that
    README.md and docs/ show is accepted by that command's own parser, its placeholders
    (``INDEX``, ``[--json]``, ``snn|ann|linear``) made values: no flag renamed or removed since,
    no subcommand gone, no choice no longer offered. A bare mention of a command (`` `python -m
    snnsim.tune` ``), which gives none of its required arguments, is a name, not a command."""
    failures = []
    commands = documented_commands(document.read_text())
    for command, args in commands:
        error = parse_error(command, _as_typed(args))
        if error and not (not args or "the following arguments are required" in error and "--" not in args):
            failures.append(f"`{command} {args}`: {error}")
    assert commands, f"{document.name} shows no command"
    assert not failures, f"{document.relative_to(ROOT)}:\n" + "\n".join(failures)


def outs_written_twice(text: str) -> list[str]:
    """The ``--out`` files that two different commands of one code block write, the later without
    ``--overwrite``: run as written, the later one stops with "exists". The same command given
    again (a stopped run resumed) and the figure folder of ``snnsim.plots`` are no such case."""
    twice = []
    for block in re.findall(r"^[ \t]*```\w*\n(.*?)^[ \t]*```", text, re.S | re.M):
        first: dict[str, tuple[str, str]] = {}
        for command, args in documented_commands(f"```\n{block}```\n"):
            out = re.search(r"--out[ =](\S+)", args)
            if not out or command == "snnsim.plots":
                continue
            if first.setdefault(out[1], (command, args)) != (command, args) and "--overwrite" not in args:
                twice.append(f"{out[1]}: `{' '.join(first[out[1]])}`, then `{command} {args}`")
    return twice


def test_no_code_block_writes_one_out_file_with_two_commands():
    """README.md's life-cycle block predicted with an IPD model and then a BMI model into the same
    ``--out predictions.h5``: a reader running the block as written had the second refused
    (``--out: predictions.h5 exists``, exit 2)."""
    block = "```\npython -m snnsim.run --out r.h5   # ^C\npython -m snnsim.run --out r.h5\n"
    block += "python -m snnsim.predict r.h5 --out p.h5\npython -m snnsim.predict b.h5 --out p.h5\n```\n"
    assert outs_written_twice(block) == [
        "p.h5: `snnsim.predict r.h5 --out p.h5`, then `snnsim.predict b.h5 --out p.h5`"
    ]  # fmt: skip
    twice = [
        f"{document.relative_to(ROOT)}: {case}"
        for document in [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
        for case in outs_written_twice(document.read_text())
    ]
    assert not twice, "one file written by two commands of a block:\n" + "\n".join(twice)


#: Other programs' options that the documents name in prose: pip's and sbatch's.
_FOREIGN_FLAGS = {"--no-deps", "--array"}


def _arguments() -> list[tuple[str, object]]:
    """``(command, action)`` of every argument of every command a reader runs (:data:`COMMANDS`,
    their subcommands too), as their parsers define them."""
    import argparse
    from unittest import mock

    found: list[tuple[str, object]] = []
    add = argparse._ActionsContainer.add_argument
    command = ""

    def recorded(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        action = add(self, *args, **kwargs)
        found.append((command, action))
        return action

    with mock.patch.object(argparse._ActionsContainer, "add_argument", recorded):
        for command in COMMANDS:
            parse_error(command, [])
    return found


def _known_flags() -> set[str]:
    """Every ``--option`` of every command a reader runs (:data:`COMMANDS`, their subcommands too,
    ``--no-X`` of a boolean option included), as their parsers define them."""
    return {s for _, action in _arguments() for s in action.option_strings if s.startswith("--")}


@pytest.mark.filterwarnings("ignore:.*found in sys.modules after import:RuntimeWarning")
def test_every_argument_of_every_command_says_what_it_takes_and_its_default():
    """``--help`` of each command says what each of its arguments is, and its default where it
    has one: benchmarks/device_agreement.py listed ``--devices A B`` with no word of which devices
    it compares unless told (cpu and cuda), neighbour.py ``--seconds`` with no default, and
    ``--tau`` of the benchmarks read "(20ms, or seconds)", an example more than the default."""
    import argparse

    arguments = _arguments()
    assert {c for c, _ in arguments} == set(COMMANDS)  # the check sees every command
    unsaid, no_default = [], []
    for command, action in arguments:
        name = "/".join(action.option_strings) or action.dest
        if action.help == argparse.SUPPRESS or isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue  # a hidden old name (--task), -h, or the subcommands (each with its help)
        if not (action.help or "").strip():
            unsaid.append(f"{command} {name}")
        elif action.default not in (None, False, "", argparse.SUPPRESS) and "default" not in action.help:
            no_default.append(f"{command} {name} (default {action.default!r})")
    assert not unsaid, "arguments without a help text:\n" + "\n".join(unsaid)
    assert not no_default, "arguments whose help does not give their default:\n" + "\n".join(no_default)


def inline_flags(text: str) -> list[tuple[str, str]]:
    """The ``(--flag, span)`` of every option a document names inline, outside its code blocks
    (whose commands :func:`test_every_command_a_document_shows_parses` parses): `` `--tau 2ms` ``,
    `` `--readout mean|max` ``; not in a span of another program (`` `pip install --no-deps` ``),
    nor an option with ``=`` (sbatch's `` `--mem=2G` ``)."""
    prose = re.sub(r"^[ \t]*```.*?^[ \t]*```", "", text, flags=re.S | re.M)
    found = []
    for span in re.findall(r"`([^`\n]+)`", prose):
        if re.match(r"\s*(?:pip|jupyter|tensorboard|ruff|py-spy|sbatch|scancel|perf)\b", span):
            continue
        found += [(flag, span) for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)(?![\w=-])", span)]
    return found


@pytest.mark.filterwarnings("ignore:.*found in sys.modules after import:RuntimeWarning")
def test_every_option_the_documents_name_inline_exists():
    """An option named in prose (`` `--keep-checkpoints` ``, `` `--no-batch-repeats` ``) is one of
    some snnsim command's or repository script's options: the commands the documents show are
    parsed, but an option named alone was checked by nothing, and a renamed one stayed."""
    assert inline_flags("`--tau 2ms`, `--mem=2G`, `pip install --no-deps`,\n```\n`--x`\n```\nand `a --b|c`") == [
        ("--tau", "--tau 2ms"),
        ("--b", "a --b|c"),
    ]
    known = _known_flags()
    assert {"--tau", "--no-batch-repeats", "--allow-missing", "--dpi", "--stimuli", "--size"} <= known
    wrong = [
        f"{document.relative_to(ROOT)}: {flag} (in `{span}`)"
        for document in [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
        for flag, span in inline_flags(document.read_text())
        if flag not in known | _FOREIGN_FLAGS
    ]
    assert not wrong, "options no command has:\n" + "\n".join(wrong)


@pytest.mark.filterwarnings("ignore:.*found in sys.modules after import:RuntimeWarning")
def test_every_option_of_every_command_is_named_in_the_documents():
    """The reverse of the check above: each option of a command a reader runs is named in README.md,
    docs/ or benchmarks/README.md (by any of its names: ``-j`` or ``--processes``; ``--X`` or
    ``--no-X``), so a reader finds what it does outside ``--help`` too. The IPD stimulus's
    ``--tone-hz``, ``--rate-max-hz``, ``--envelope-power``, ``--anf-per-ear``, ``--n-classes`` and
    ``--n-test-batches``, ``sweep run --progress``, ``sweep submit --script``, ``bench_ipd.py
    --results`` and ``device_agreement.py --devices`` were named in none of them."""
    import argparse

    text = " ".join(
        p.read_text()
        for p in [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    )
    named = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", text))
    unnamed = sorted(
        {
            f"{command} {'/'.join(action.option_strings)}"
            for command, action in _arguments()
            if action.option_strings
            and action.help != argparse.SUPPRESS  # a hidden old name: --task (docs/architecture.md names it)
            and not isinstance(action, argparse._HelpAction)
            and not set(action.option_strings) & named
        }
    )
    assert "snnsim.run --tau" not in unnamed and len(_arguments()) > 100  # the check sees the options
    assert not unnamed, "options named in neither README.md nor docs/:\n" + "\n".join(unnamed)


def _members(protocol: type) -> set[str]:
    """The attributes and methods a class following ``protocol`` must have."""
    return {n for n in [*vars(protocol), *getattr(protocol, "__annotations__", {})] if not n.startswith("_")}


def test_architecture_md_names_every_member_of_the_protocols_a_new_study_or_backend_follows():
    """ "How to add ..." lists what a study (``Study``), its ``Trainer`` and a backend (``Backend``)
    must have. The ``Trainer`` was "an ``epoch()`` and a ``validate()``", while
    ``training.fit_epochs`` also reads its ``n_batches`` and calls ``hidden_rate_hz()`` every
    epoch and ``state_dict()`` / ``load_state_dict()`` for checkpoints: a study written from the
    page failed in its first epoch."""
    from snnsim.backends import Backend
    from snnsim.studies import Study
    from snnsim.training import Trainer

    text = (ROOT / "docs" / "architecture.md").read_text()
    study = re.search(r"^\*\*A study\.\*\*(.*?)^The runner then", text, re.M | re.S).group(1)
    backend = re.search(r"^\*\*A backend\.\*\*(.*?)^\*\*A study", text, re.M | re.S).group(1)
    trainer = re.search(r"`Trainer` \((.*?)\) passed to", study, re.S).group(1)
    for name, protocol, where in (
        ("Study", Study, study),
        ("Trainer", Trainer, trainer),
        ("Backend", Backend, backend),
    ):
        named = set(re.findall(r"`(\w+)(?:\(|`)", where))
        missing = sorted(_members(protocol) - named)
        assert not missing, f"docs/architecture.md's {name} does not name {missing}"


def test_the_sections_docs_recipes_md_points_its_probes_to_are_there():
    """The "where" column of docs/recipes.md's table of what was tried on the members below ridge
    names the section of each probe ("Nor the stopping rule"): each is the start of a heading or
    a paragraph of the page (its bold title or its first words), so a reader finds it by search.
    "Nor a weight decay per data set" was none: the paragraph is "Nor a weight decay chosen per
    data set"."""
    text = (ROOT / "docs" / "recipes.md").read_text()
    table = re.search(r"^\| probe \| weak:1 \| where \|\n(.*?)\n\n", text, re.M | re.S)
    assert table, "docs/recipes.md no longer has its table of probes"
    names = {name for row in table.group(1).splitlines() for name in re.findall(r'"([^"]+)"', row.split("|")[-2])}
    assert "Nor the stopping rule" in names  # the pattern finds them
    missing = sorted(n for n in names if not re.search(rf"^(?:#+ |\*\*)?{re.escape(n)}", text, re.M))
    assert not missing, f"docs/recipes.md's table names sections that are not there: {missing}"


@pytest.mark.filterwarnings("ignore:.*found in sys.modules after import:RuntimeWarning")
def test_every_command_in_the_comments_of_experiment_files_and_slurm_scripts_parses():
    """The usage lines of ``experiments/*.toml`` and ``slurm/*.sh`` (``#   python -m snnsim.sweep
    local ipd_readouts -j 2 --pack 30``) are commands a reader copies too, which the documents'
    check did not parse: each is accepted by its command's parser, as those of README.md."""
    failures, found = [], 0
    for path in sorted([*(ROOT / "experiments").glob("*.toml"), *(ROOT / "slurm").glob("*.sh")]):
        usage = [re.sub(r"^#\s*", "", line) for line in path.read_text().splitlines() if re.match(r"#\s+python", line)]
        for command, args in documented_commands("```\n" + "\n".join(usage) + "\n```\n"):
            found += 1
            error = parse_error(command, _as_typed(args))
            if error and not (not args or "the following arguments are required" in error and "--" not in args):
                failures.append(f"{path.relative_to(ROOT)}: `{command} {args}`: {error}")
    assert found >= 20  # the pattern finds them
    assert not failures, "\n".join(failures)


def test_the_help_of_allow_missing_names_every_hole_it_lets_through(capsys):
    """docs/sweeps.md: with ``--allow-missing`` a sweep's missing, queued, running, failed, corrupt
    and stale jobs are NaN; README.md: ``tune merge --allow-missing`` leaves out stale trials too.
    The options' help named neither queued and running jobs nor stale trials."""
    from snnsim import tune
    from snnsim.sweep import cli
    from snnsim.sweep.jobs import STATES

    helps = {}
    for name, main in (("sweep", cli.main), ("tune", tune.main)):
        with pytest.raises(SystemExit):
            main(["merge", "--help"])
        shown = " ".join(capsys.readouterr().out.split())
        helps[name] = re.search(r"--allow-missing (.*)$", shown).group(1)
    assert all(state in helps["sweep"] for state in STATES if state != "done"), helps["sweep"]
    assert "stale" in helps["tune"], helps["tune"]


def test_model_space_md_says_which_bmi_decoders_read_each_option_of_its_table():
    """docs/model_space.md said that the BMI study applies the options of its table to the spiking
    decoder only, while ``--dropout`` is read by ``--model ann`` too (config.py's ``models``; an ANN
    run with ``--dropout 0.2`` drops inputs and gets no note): each option of the table that a
    decoder other than ``snn`` reads (not one of ``backends.MODEL_SPACE``, which the config refuses
    for them) is named with that decoder in the page's text."""
    from snnsim.backends import MODEL_SPACE
    from snnsim.config import field_names, metadata

    text = (ROOT / "docs" / "model_space.md").read_text()
    table = re.findall(r"^\| `(--[a-z-]+)", text, re.M)
    assert "--tau-syn" in table and "--dropout" in table  # the pattern finds the table's flags
    fields = {"--" + n.replace("_", "-"): n for n in field_names()}
    prose = " ".join(re.sub(r"^\|.*$", "", text, flags=re.M).split())
    for flag in table:
        others = [m for m in metadata(fields[flag])["models"] if m != "snn" and fields[flag] not in MODEL_SPACE]
        for model in others:
            assert re.search(rf"`{flag}`[^.]*`--model {model}`|`--model {model}`[^.]*`{flag}`", prose), (flag, model)


def test_the_readme_says_which_jobs_sweep_submit_sends():
    """README.md summed ``submit`` up as "only missing jobs", while it sends the failed and corrupt
    ones too (``sweep.cli._todo``, docs/sweeps.md), and named its throttle ``%K``, the letter of
    ``--pack K`` in the same sentence (``--throttle J``/``-K J`` in ``--help``)."""
    import argparse

    from snnsim.sweep import cli
    from snnsim.sweep.jobs import STATES

    jobs = [argparse.Namespace(index=i, state=s) for i, s in enumerate(STATES)]
    sent = [STATES[i] for i in cli._todo(None, argparse.Namespace(results_dir=None), False, st=jobs)]
    assert "missing" in sent and "done" not in sent  # the check sees what submit sends
    text = " ".join((ROOT / "README.md").read_text().split())
    summary = re.search(r"`submit` \(([^)]*)\)", text)
    assert summary, "README.md no longer sums up submit"
    assert all(state in summary.group(1) for state in sent), (sent, summary.group(1))
    assert "%K" not in summary.group(1) and "--pack K" in text
