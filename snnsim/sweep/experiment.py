"""Experiment files: a name, fixed settings and swept settings; the grid is their Cartesian product.

An experiment file (TOML) looks like::

    name = "ipd_readouts"
    description = "..."             # optional, free text

    [fixed]                         # settings shared by every job (RunConfig field names)
    study = "ipd"
    epochs = 10

    [sweep]                         # swept settings: lists of scalars, in this order
    readout = ["mean", "max", "fr"]
    tau = ["20ms", "2ms"]
    seed = [0, 1, 2]

Keys are :class:`~snnsim.config.RunConfig` field names, and values are checked and converted by
:func:`snnsim.config.coerce` (durations such as ``tau`` are strings with a unit, ``"2ms"``, or
numbers in seconds, which the commands note: :func:`bare_durations`). The key ``task`` of older
files is read as ``study``.

**Paths.** A relative path in the file (``data = "bmi.pkl"``, ``tensorboard = "runs"``) is read
from the current folder of the command that runs the jobs (``sweep local``, ``sweep run``; under
SLURM the folder ``submit`` or ``sbatch`` was called from), not from the file's folder. A leading
``~`` is the home folder.

**Index order.** Jobs are numbered ``0 .. N-1`` with the *last* swept key varying fastest
(C / row-major order, as ``itertools.product``): above, job 0 is (mean, 20ms, 0), job 1 is
(mean, 20ms, 1), job 3 is (mean, 2ms, 0) and job 6 is (max, 20ms, 0). The order depends only
on the file, so it is stable across machines and runs.

**Unions of grids.** Instead of one ``[sweep]`` table, a file may hold several ``[[sweep]]``
tables (each a Cartesian product over the same keys, in the same order); their jobs are
numbered one block after the other. Merged, every key becomes one dimension whose coordinate
is the union of its values (in order of first appearance); points in no block are NaN. A key
whose value follows from an earlier key's in every block (``input_rank`` from ``model`` in
``bmi_learning_curve``: 32 for snn, 0 for ann and linear) is no dimension of its own but a
coordinate along that key's dimension (:attr:`Experiment.coordinates`), so it adds no empty points.
"""

from __future__ import annotations

import math
import os
import re
import stat
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from .. import config
from ..config import RunConfig, field_names
from ..errors import ConfigError, SnnsimError

DURATION_KEYS = config.DURATION_FIELDS
UNITS = {**{k: "s" for k in DURATION_KEYS}, "tone_hz": "Hz", "rate_max_hz": "Hz", "rate_target": "Hz", "lr": "1"}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
TOP_KEYS = ("name", "description", "fixed", "sweep", "tensorboard")
#: The most jobs an experiment holds: each command reads and checks every job's config (100,000
#: in about 10 s); a grid of 10^7 ran for minutes before it said anything.
MAX_JOBS = 100_000

Scalar = str | int | float


class ExperimentError(SnnsimError, ValueError):
    """An experiment file is missing or malformed, or an index is out of range."""


@dataclass(frozen=True)
class Experiment:
    """A parsed experiment file.

    Attributes:
        name: the experiment's name (results go to ``results/NAME/``).
        fixed: settings shared by every job (already converted: durations in seconds).
        blocks: one or more grids, each a tuple of ``(key, values)`` pairs in file order.
        source: the TOML text the experiment was read from (stored in merged results).
        path: the file it was read from, if any.
        description: free text.
        tensorboard: a folder for TensorBoard (the jobs' per-epoch scalars, one run per job), or None.
    """

    name: str
    fixed: dict[str, Any]
    blocks: tuple[tuple[tuple[str, tuple[Scalar, ...]], ...], ...]
    source: str = ""
    path: Path | None = None
    description: str = ""
    tensorboard: str | None = None

    # -- the grid ---------------------------------------------------------------------------
    @property
    def keys(self) -> tuple[str, ...]:
        """Swept keys in file order."""
        return tuple(k for k, _ in self.blocks[0]) if self.blocks else ()

    @property
    def swept(self) -> dict[str, tuple[Scalar, ...]]:
        """Each swept key and its values (union over blocks, in order of first appearance)."""
        out: dict[str, list] = {k: [] for k in self.keys}
        for block in self.blocks:
            for key, values in block:
                for v in values:
                    if v not in out[key]:
                        out[key].append(v)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def coordinates(self) -> dict[str, str]:
        """Swept keys whose value follows from an earlier swept key's at every job, each with that
        key (``{"input_rank": "model"}``). Only a union of grids has them; a key of one value has
        none. Merged, such a key is a coordinate along the other key's dimension. Computed once
        (it walks every job)."""
        if len(self.blocks) < 2:
            return {}
        points = self.all_settings()
        out: dict[str, str] = {}
        for i, key in enumerate(self.keys):
            if len(self.swept[key]) < 2:
                continue
            for anchor in (k for k in self.keys[:i] if k not in out):
                value_of: dict = {}
                if all(value_of.setdefault(p[anchor], p[key]) == p[key] for p in points):
                    out[key] = anchor
                    break
        return out

    @property
    def dims(self) -> tuple[str, ...]:
        """The merged dataset's new dimensions: the swept keys but :attr:`coordinates`."""
        coordinates = self.coordinates
        return tuple(k for k in self.keys if k not in coordinates)

    @property
    def block_sizes(self) -> tuple[int, ...]:
        return tuple(math.prod(len(v) for _, v in block) for block in self.blocks)

    @property
    def grid_size(self) -> int:
        """Number of jobs N (indices 0..N-1)."""
        return sum(self.block_sizes)

    def __len__(self) -> int:
        return self.grid_size

    def check_index(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, int):
            raise ExperimentError(f"{self.name}: job index must be an integer, got {index!r}")
        if not 0 <= index < self.grid_size:
            raise ExperimentError(f"{self.name}: job index {index} out of range 0..{self.grid_size - 1}")
        return index

    def settings(self, index: int) -> dict[str, Scalar]:
        """The swept settings of job ``index`` (last key fastest)."""
        self.check_index(index)
        rest = index
        for block, size in zip(self.blocks, self.block_sizes):  # noqa: B007 - the block holding index
            if rest < size:
                break
            rest -= size
        out: dict[str, Scalar] = {}
        for key, values in reversed(block):
            rest, i = divmod(rest, len(values))
            out[key] = values[i]
        return {k: out[k] for k in self.keys}

    def index_of(self, **settings: Scalar) -> int:
        """The job index of a point given by all swept settings (inverse of :meth:`settings`)."""
        for index in range(self.grid_size):
            if self.settings(index) == {k: settings.get(k) for k in self.keys}:
                return index
        raise ExperimentError(f"{self.name}: no job with settings {settings}")

    def config(self, index: int) -> RunConfig:
        """The full :class:`RunConfig` that job ``index`` runs."""
        return _make_config(self.name, {**self.fixed, **self.settings(index)})

    def all_settings(self) -> list[dict[str, Scalar]]:
        return [self.settings(i) for i in range(self.grid_size)]


# -- loading ---------------------------------------------------------------------------------
def find(exp: str | Path, what: str = "experiment file", error: type[Exception] | None = None) -> Path:
    """Resolve an experiment (or tuning spec, ``what``) argument: a path to a ``.toml`` file,
    or a NAME of ``experiments/NAME.toml`` (in the current folder, else in the snnsim source
    tree). Not found: ``error`` (default :class:`ExperimentError`) naming the paths tried."""
    p = Path(exp)
    if p.is_file():
        return p
    candidates = []
    if p.suffix != ".toml" and len(p.parts) == 1:
        candidates.append(Path("experiments") / f"{p.name}.toml")
        candidates.append(Path(__file__).resolve().parents[2] / "experiments" / f"{p.name}.toml")
    for c in candidates:
        if c.is_file():
            return c
    looked = ", ".join(str(c) for c in [p, *candidates])
    if p.exists() and not p.is_dir():  # a named pipe, a shell's <(cat exp.toml), /dev/null: not read twice
        raise (error or ExperimentError)(
            f"{exp} is {'a pipe' if stat.S_ISFIFO(p.stat().st_mode) else 'a device'}, not a file; give the {what} (.toml) or its NAME (later commands read it again by its path)"
        )
    if p.is_dir():  # "no experiment file 'results'" read as if the folder were not there
        raise (error or ExperimentError)(
            f"{exp} is a folder; give the {what} (.toml) or its NAME (looked for {looked})"
        )
    raise (error or ExperimentError)(f"no {what} {exp!r} (looked for {looked})")


def not_text(path: Path) -> str | None:
    """What file ``path`` is where it holds no TOML text, as :func:`snnsim.results.file_kind` words
    it for ``run --config`` ("an empty file", "an HDF5 file", a checkpoint ...); None: text, or not
    known."""
    from ..results import file_kind

    kind = file_kind(path)
    return None if kind in ("a text file", "a TOML file") else kind


def load(exp: str | Path) -> Experiment:
    """Read and check an experiment file (a path, or a NAME in ``experiments/``)."""
    path = find(exp)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ExperimentError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        if kind := not_text(path):  # a result file, a checkpoint
            raise ExperimentError(f"{path} is {kind}, not an experiment file (TOML)") from None
        raise ExperimentError(f"{path}: not UTF-8 text (byte {exc.start}); TOML files are UTF-8") from None
    if not text and (kind := not_text(path)):  # 0 bytes: named as such, not as a file missing its 'name'
        raise ExperimentError(f"{path} is {kind}, not an experiment file (TOML)")
    return loads(text, path=path)


def loads(text: str, path: Path | None = None) -> Experiment:
    """Parse experiment TOML text (see the module docstring)."""
    where = str(path) if path else "experiment"
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError(f"{where}: not valid TOML ({exc})") from None
    unknown = [k for k in doc if k not in TOP_KEYS]
    spec_keys = [k if k != "search" else "[search]" for k in ("trials", "sampler", "pruner", "search") if k in doc]
    if spec_keys and "sweep" not in doc:  # experiments/ holds tuning specs too
        raise ExperimentError(
            f"{where}: a tuning spec (it has {', '.join(spec_keys)}), not an experiment file: "
            "give it to python -m snnsim.tune"
        )
    if unknown:
        raise ExperimentError(
            f"{where}: unknown top-level key {unknown[0]!r}; expected {', '.join(TOP_KEYS)} "
            f"(settings go under [fixed] or [sweep])"
        )
    if "name" not in doc:  # the results folder and merged file are named by it
        example = Path(where).stem if where.endswith(".toml") else "my_sweep"
        raise ExperimentError(f"{where}: no 'name'; give the experiment one at the top, such as name = \"{example}\"")
    name = doc.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ExperimentError(f"{where}: 'name' must be a string of letters, digits, '_', '-', '.'; got {name!r}")
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise ExperimentError(f"{where}: 'description' must be a string")
    fixed_doc = doc.get("fixed", {})
    if not isinstance(fixed_doc, dict):
        raise ExperimentError(f"{where}: [fixed] must be a table")
    known = set(field_names())
    fixed: dict[str, Any] = {}
    for key, value in fixed_doc.items():
        key = _new_name(where, "fixed", key, fixed)
        _check_key(where, "fixed", key, known)
        fixed[key] = _convert(where, key, value)

    sweep_doc = doc.get("sweep", {})
    if isinstance(sweep_doc, dict):
        sweep_doc = [sweep_doc] if sweep_doc else []
    if not isinstance(sweep_doc, list) or not all(isinstance(b, dict) for b in sweep_doc):
        raise ExperimentError(f"{where}: [sweep] must be a table or an array of tables [[sweep]]")
    blocks = []
    for n, block_doc in enumerate(sweep_doc, start=1):
        if not block_doc:
            raise ExperimentError(f"{where}: [[sweep]] block {n} is empty; give each block its swept settings")
        block = []
        for key, values in block_doc.items():
            key = _new_name(where, "sweep", key, [k for k, _ in block])
            _check_key(where, "sweep", key, known)
            if key in fixed:
                raise ExperimentError(f"{where}: {key!r} is both fixed and swept")
            if not isinstance(values, list) or not values:
                raise ExperimentError(f"{where}: sweep.{key} must be a non-empty list of values, got {values!r}")
            converted = tuple(_convert(where, key, v) for v in values)
            if len(set(converted)) != len(converted):
                raise ExperimentError(f"{where}: sweep.{key} lists a value twice (after conversion): {values!r}")
            block.append((key, converted))
        blocks.append(tuple(block))
    if blocks:
        keys = [k for k, _ in blocks[0]]
        for n, block in enumerate(blocks[1:], start=2):
            if [k for k, _ in block] != keys:
                raise ExperimentError(
                    f"{where}: every [[sweep]] block must sweep the same keys in the same order "
                    f"({', '.join(keys)}); block {n} sweeps {', '.join(k for k, _ in block)}"
                )
    tensorboard = doc.get("tensorboard")
    if tensorboard is not None and (not isinstance(tensorboard, str) or not tensorboard):
        raise ExperimentError(f"{where}: 'tensorboard' must be a folder name, got {tensorboard!r}")
    if tensorboard is not None:  # "~/runs": the home folder, not a folder named ~ (TOML leaves it to us)
        tensorboard = os.path.expanduser(tensorboard)
    exp = Experiment(name=name, fixed=fixed, blocks=tuple(blocks), source=text, path=path, description=description,
                     tensorboard=tensorboard)  # fmt: skip
    if exp.grid_size == 0:
        raise ExperimentError(f"{where}: no jobs (an empty [sweep])")
    if exp.grid_size > MAX_JOBS:  # every command checks every job's config: 10^5 take about 10 s
        raise ExperimentError(f"{where}: {exp.grid_size:,} jobs; an experiment holds at most {MAX_JOBS:,} "
                              "(split the grid into several files, or sweep fewer values)")  # fmt: skip
    # every point must be a valid, distinct config
    seen: dict[tuple, int] = {}
    trained: dict[tuple[RunConfig, int], int] = {}  # (config but its seed, a trained seed) -> job
    for index in range(exp.grid_size):
        point = tuple(exp.settings(index).values())
        if point in seen:
            raise ExperimentError(f"{where}: jobs {seen[point]} and {index} are the same point {exp.settings(index)}")
        seen[point] = index
        try:
            cfg = RunConfig.from_dict({**exp.fixed, **exp.settings(index)})
        except ConfigError as exc:  # the file, the setting, the first job that has it
            raise ExperimentError(
                f"{where}: {exc.field}: {config.as_keys(exc.message)} (job {index}: {format_settings(exp.settings(index))})"
            ) from None
        rest = cfg.replace(seed=0, repeats=1)
        for seed in range(cfg.seed, cfg.seed + cfg.repeats):  # repeat r trains with seed + r
            if (other := trained.setdefault((rest, seed), index)) != index:
                n = max(cfg.repeats, exp.config(other).repeats)
                fix = (f"with repeats = {n}, space the swept seeds {n} apart" if "seed" in exp.keys else
                       f"each job with repeats = {n} trains seeds seed..seed + {n - 1}; sweep seed too, its values "
                       f"{n} apart")  # fmt: skip
                raise ExperimentError(f"{where}: jobs {other} and {index} both train seed {seed} with the same "
                                      f"settings (repeat r trains with seed + r): {fix}")  # fmt: skip
    return exp


def bare_durations(exp: Experiment) -> list[str]:
    """The durations that the experiment's file gives as bare numbers (seconds):
    ``["fixed.tau = 20", "sweep.tau_syn = [5, 10]"]``."""
    doc = tomllib.loads(exp.source) if exp.source else {}
    blocks = doc.get("sweep", [])
    blocks = [blocks] if isinstance(blocks, dict) else blocks
    return config.bare_durations(doc.get("fixed", {}), "fixed.") + [
        item for block in blocks for item in config.bare_durations(block, "sweep.")
    ]


def _new_name(where: str, table: str, key: str, seen: Any) -> str:
    try:
        return config.current_name(key, seen)
    except ConfigError as exc:
        raise ExperimentError(f"{where}: [{table}]: {exc.message}") from None


def _check_key(where: str, table: str, key: str, known: set[str]) -> None:
    if key not in known:
        raise ExperimentError(f"{where}: unknown setting {table}.{key}{config.setting_hint(key, known)}")


def _convert(where: str, key: str, value: Any) -> Any:
    """A value of the file, checked and converted by the config (:func:`snnsim.config.coerce`)."""
    try:
        return config.coerce(key, value)
    except ConfigError as exc:
        raise ExperimentError(f"{where}: {key}: {config.as_keys(exc.message)}") from None


def _make_config(name: str, settings: dict[str, Any]) -> RunConfig:
    try:
        return RunConfig.from_dict(settings)
    except ConfigError as exc:
        raise ExperimentError(f"{name}: {exc.field}: {config.as_keys(exc.message)}") from None


def format_settings(settings: dict[str, Any]) -> str:
    """``readout=mean tau=20ms seed=3 hidden=64,64`` (durations with units; a list as the merge labels
    it, and as the flags take it)."""
    from ..units import format_duration

    parts = []
    for k, v in settings.items():
        if k in DURATION_KEYS and isinstance(v, float):
            v = format_duration(v)
        elif isinstance(v, (tuple, list)):
            v = ",".join(map(str, v))
        parts.append(f"{k}={v}")
    return " ".join(parts)
