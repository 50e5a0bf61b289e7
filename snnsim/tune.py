"""``python -m snnsim.tune COMMAND SPEC.toml``: hyper-parameter search with Optuna, locally or on SLURM.

A spec file names the fixed settings, the search space, the number of trials, the sampler and
the pruner; the objective is always a validation score, never the test set: the best validation
accuracy (IPD, ``n_val_batches`` > 0) or validation FVAF (BMI) over the epochs of a trial::

    name = "ipd_tune"
    trials = 20                    # the budget, shared by every worker
    sampler = "tpe"                # tpe | random
    pruner = "median"              # median | halving | none: on the per-epoch validation score
    seed = 0                       # the worker that asks trial 0 samples with seed + its number (see _worker_seed())

    [fixed]                        # RunConfig settings of every trial
    study = "ipd"
    backend = "fused"
    n_val_batches = 8

    [search]                       # a range (log scale optional, integer with step) or choices
    lr = { low = 1e-3, high = 3e-2, log = true }
    hidden = { low = 16, high = 64, step = 8 }
    tau = { choices = ["2ms", "5ms", "20ms"] }

A ``step`` must divide ``high - low`` (Optuna would shrink the range with only a warning), and be
an integer for an integer setting (a duration's may carry a unit: ``step = "10ms"``); ``log`` is
true or false; ``choices`` is a list of two values or more (one is a ``[fixed]`` setting).
``duration`` and ``max_delay`` run as whole steps of ``dt``: their range needs a step (a multiple of ``dt``), or give choices; a searched
``dt`` takes choices (or a stepped range) that divide them. A spec that a trial's config would
refuse on these grounds is refused when it is read, and so is one whose config at any corner of
the space (each choice, both ends of each range, with each of the others') is refused, naming
that corner.

SPEC is a spec file (``experiments/NAME.toml``) or just its NAME, as for sweeps. Commands::

    run    SPEC [-j N]        N local worker processes (at most trials) until the budget is used
    worker SPEC               one worker: trials until the budget is used (what SLURM runs)
    submit SPEC [--workers K] sbatch slurm/tune.sh as an array of K workers (at most trials)
    status SPEC [--json]      best so far; trials complete / running / pruned / failed / stopped / stale
    best   SPEC --out F.toml  the best trial's full config, runnable by python -m snnsim.run --config
    merge  SPEC               every completed trial's result file into RESULTS/NAME.h5 (dim trial); the
                              others (pruned, failed, stopped) listed in its attribute unmerged_trials

A completed trial is **stale**, as a sweep's job is, when its result file was made with other
numerics than this snnsim's (``NUMERICS_VERSION``), on a BMI data file that has changed since,
or on a synthetic set that this snnsim (or its cache) gives otherwise now: ``status`` names it
and why (``stale``, ``reasons``), ``best`` leaves it out (with a note), and ``merge`` refuses it
unless ``--allow-missing``, which leaves it out (attributes ``stale``, ``stale_reasons``). A stale
trial does not count against the budget: ``trials = N`` asks for N trials of this snnsim's
numerics and data, so a worker runs new ones in the places of stale ones (``status`` lists both).

The study lives in ``RESULTS/NAME/optuna.journal``: Optuna's journal file storage with an
``open`` lock file (safe on NFSv3+, unlike SQLite on NFS; its holder also holds a ``flock`` on it,
so that the lock of a worker killed while it wrote is taken over at once: :class:`JournalLock`). Each completed trial writes a normal
result file ``RESULTS/NAME/trial-N.h5`` (the config, the trial's number and parameters and the
version of Optuna that chose them as attributes). The study remembers the spec's ``[fixed]`` and ``[search]``: a spec of the same name
that changes them is refused (``trials``, the sampler, the pruner and the seed may change), and so
is a worker of an snnsim with other numerics (:data:`snnsim.results.NUMERICS_VERSION`) than the
one that made the study (its ``made_with``): their trials would give other numbers. It remembers
the SHA-256 of a BMI study's data file, or of its synthetic set, too: a worker that finds the file
changed, or loads another set (a replaced cache), is refused. A
worker stopped by a signal marks its trial ``stopped``, which does not count against the budget
(another worker, or one submitted again, runs a new trial in its place); ``status`` lists trials
left running by workers that died (killed: SIGKILL, out of memory), which do count: each trial
records its worker (``HOST pid N``), ``status`` and ``merge`` name those of this host that have
ended (and trials left without a name for :data:`UNNAMED_MINUTES`: their worker was killed as it
asked for them), and the next worker on that host (on any host, for those) records them failed,
or complete where the trial's file was written but could not be recorded (the journal's folder
read-only or full then). A worker whose every trial failed exits 1; a BMI data file the trials
read, and a CUDA device for trials on ``cuda`` (``run``, ``worker``), are checked before any trial.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import itertools
import json
import math
import os
import pickle
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zlib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import config as config_mod
from .atomic_write import WriteFailed
from .cli import (
    Interrupted,
    OneLineParser,
    announcing,
    command_parser,
    description_of,
    guarded,
    log_line,
    plural,
    process,
    sbatch_options,
    seconds_note,
    shell_line,
    signals_held,
    stop_if_signalled,
    stop_on_signals,
    user_path,
)
from .cli import positive_int as _positive
from .config import RunConfig
from .errors import EXIT_FAILED, EXIT_NOT_WRITTEN, ConfigError, DataError, ResultError, SnnsimError
from .sweep.experiment import UNITS, find, format_settings, not_text
from .units import parse_duration

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Iterator

    from .training import EpochRecord

PROG = "snnsim.tune"
NOT_WRITTEN = "could not write a trial's result file"
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "halving", "none")
TOP_KEYS = ("name", "description", "trials", "sampler", "pruner", "seed", "fixed", "search")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: The largest seed: a worker may sample with ``seed + k``, and numpy's seeds end at 2**32 - 1.
MAX_SEED = 2**31 - 1
#: Settings that no search may vary: the objective (val_acc or val_fvaf) follows from ``study``.
UNSEARCHABLE = ("study",)
#: Why a spec cannot set ``repeats``: every trial is one model, scored on its validation data.
ONE_MODEL = "a trial trains one model (repeats = 1)"
STEPPED = ("duration", "max_delay")  # durations simulated as whole steps of dt: a range needs a step
#: The most corners of a search space whose configs are checked each when a spec is read (:meth:`Spec.corners`).
MAX_CORNERS = 4096
SCRIPT = Path(__file__).resolve().parents[1] / "slurm" / "tune.sh"


class SpecError(SnnsimError, ValueError):
    """A tuning spec is missing or malformed."""


@dataclass(frozen=True)
class Param:
    """One searched setting: a float or int range (``log``, ``step``) or a list of ``choices``."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()

    def suggest(self, trial: Any) -> Any:
        if self.choices:
            return trial.suggest_categorical(self.name, list(self.choices))
        integer = config_mod.metadata(self.name)["kind"] in ("int", "sizes")
        if integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)


@dataclass(frozen=True)
class Spec:
    name: str
    trials: int
    sampler: str
    pruner: str
    seed: int
    fixed: dict[str, Any]
    search: tuple[Param, ...]
    path: Path
    description: str = ""
    text: str = ""  # the file as read: what each trial file records (the file may be edited meanwhile)

    @property
    def objective(self) -> str:
        """The validation score every trial maximises."""
        return "val_fvaf" if self.fixed.get("study") == "bmi" else "val_acc"

    def config(self, params: dict[str, Any]) -> RunConfig:
        return RunConfig.from_dict({**self.fixed, **params, "repeats": 1})

    def corners(self) -> list[dict[str, Any]]:
        """The searched settings of every corner of the search space: each choice of every setting,
        and both ends of every range, with each of the others' (at most :data:`MAX_CORNERS`; a
        larger space: each of a setting's values with the others at their first ends, and at their
        last). A setting that a trial's config refuses in combination with another (a choice of
        backend and an option it cannot carry) is refused at one of them."""
        values = [p.choices or (_typed(p, p.low), _typed(p, p.high)) for p in self.search]
        names = [p.name for p in self.search]
        if math.prod(map(len, values)) <= MAX_CORNERS:
            return [dict(zip(names, point)) for point in itertools.product(*values)]
        out = []
        for end in (0, -1):
            base = {name: v[end] for name, v in zip(names, values)}
            out += [{**base, name: x} for name, v in zip(names, values) for x in v]
        return out

    @property
    def space(self) -> str:
        """The fixed settings and the search space as JSON: what a study's trials have in common."""
        search = [{k: v for k, v in vars(p).items() if v not in (None, False, ())} for p in self.search]
        return json.dumps(_canonical({"fixed": self.fixed, "search": search}), sort_keys=True)


def _canonical(space: dict) -> dict:
    """``space`` (:attr:`Spec.space`) with every number a float and the search sorted by name:
    ``weight_decay = 0`` and ``0.0``, or the same ranges in another order, are the same space."""

    def plain(v: Any) -> Any:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return {"fixed": plain(space["fixed"]), "search": sorted(plain(space["search"]), key=lambda p: p["name"])}


def spec_bare_durations(spec: Spec) -> list[str]:
    """The durations that the spec's file gives as bare numbers (seconds), in ``[fixed]`` and
    ``[search]`` (a range's ends and step, or its choices)."""
    from .config import bare_durations

    doc = tomllib.loads(spec.text)  # as read by load(): the file may have changed since
    return bare_durations(doc.get("fixed", {}), "fixed.") + bare_durations(doc.get("search", {}), "search.")


def load(path: str | Path) -> Spec:
    """Read and check a spec file (a path, or a NAME in ``experiments/``, as for sweeps): every
    setting through :class:`RunConfig`, the search space by its bounds; the configs of every
    corner of the space (:meth:`Spec.corners`) must be valid."""
    path = find(path, "tuning spec", SpecError)
    try:
        text = path.read_text(encoding="utf-8-sig")
        if not text and (kind := not_text(path)):  # 0 bytes: named as such, not as a spec missing its 'name'
            raise SpecError(f"{path} is {kind}, not a tuning spec (TOML)")
        doc = tomllib.loads(text)
    except OSError as exc:
        raise SpecError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        if kind := not_text(path):  # a result file, a checkpoint
            raise SpecError(f"{path} is {kind}, not a tuning spec (TOML)") from None
        raise SpecError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML ({exc})") from None
    unknown = [k for k in doc if k not in TOP_KEYS]
    if "sweep" in doc and "search" not in doc:  # experiments/ holds experiment files (sweeps) too
        raise SpecError(
            f"{path}: an experiment file (it has [sweep]), not a tuning spec: give it to python -m snnsim.sweep"
        )
    if unknown:
        hint = ""
        if unknown[0] in config_mod.field_names():  # a setting at the top: a run's config file, or a slip
            hint = (" (settings go under [fixed] or [search]; a run's config file, settings alone, is for "
                    "python -m snnsim.run --config)")  # fmt: skip
        raise SpecError(f"{path}: unknown key {unknown[0]!r}; expected {', '.join(TOP_KEYS)}{hint}")
    if "name" not in doc:  # the study's folder and merged file are named by it
        raise SpecError(f"{path}: no 'name'; give the study one at the top, such as name = \"{Path(path).stem}\"")
    name = doc.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise SpecError(f"{path}: 'name' must be letters, digits, '_', '-', '.'; got {name!r}")
    if not isinstance(doc.get("description", ""), str):
        raise SpecError(f"{path}: 'description' must be a string")

    def choice(key: str, accepted: tuple[str, ...], default: str) -> str:
        value = doc.get(key, default)
        if value not in accepted:
            raise SpecError(f"{path}: {key} must be one of {', '.join(accepted)}, got {value!r}")
        return value

    trials, seed = doc.get("trials", 20), doc.get("seed", 0)
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise SpecError(f"{path}: trials must be a positive integer, got {trials!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise SpecError(f"{path}: seed must be an integer in 0..{MAX_SEED}, got {seed!r}")
    for table in ("fixed", "search"):
        if not isinstance(doc.get(table, {}), dict):
            raise SpecError(f"{path}: {table} must be a table [{table}] of settings, got {doc[table]!r}")
    fixed = {}
    for key, value in doc.get("fixed", {}).items():
        key = _new_name(path, "fixed", key, fixed)
        try:
            fixed[key] = config_mod.coerce(key, value) if key in config_mod.field_names() else None
        except ConfigError as exc:
            raise SpecError(f"{path}: fixed.{key}: {config_mod.as_keys(exc.message)}") from None
        if key not in config_mod.field_names():
            raise SpecError(f"{path}: unknown setting fixed.{key}{_hint(key)}")
    if fixed.get("repeats", 1) != 1:  # Spec.config trains one model per trial
        raise SpecError(f"{path}: fixed.repeats: {ONE_MODEL}; give the seeds to a sweep of the best config, "
                        f"or run it with --repeats")  # fmt: skip
    search = []
    for key, desc in doc.get("search", {}).items():
        key = _new_name(path, "search", key, [p.name for p in search])
        if key not in config_mod.field_names():
            raise SpecError(f"{path}: unknown setting search.{key}{_hint(key)}")
        if key == "repeats":
            raise SpecError(f"{path}: search.repeats: {ONE_MODEL}")
        if key in UNSEARCHABLE:
            raise SpecError(f"{path}: search.{key}: cannot be searched (the objective follows from it); "
                            f"give one {key} in [fixed], or one spec per {key}")  # fmt: skip
        if key in fixed:
            raise SpecError(f"{path}: {key!r} is both fixed and searched")
        if not isinstance(desc, dict) or not ({"choices"} <= set(desc) or {"low", "high"} <= set(desc)):
            raise SpecError(f"{path}: search.{key} must be {{ low = .., high = .. }} or {{ choices = [..] }}")
        extra = set(desc) - ({"choices"} if "choices" in desc else {"low", "high", "log", "step"})
        if extra:
            raise SpecError(f"{path}: search.{key}: unknown or conflicting key {sorted(extra)[0]!r}")
        if not isinstance(desc.get("log", False), bool):
            raise SpecError(f"{path}: search.{key}: log must be true or false, got {desc['log']!r}")
        if desc.get("log") and "step" in desc:
            raise SpecError(f"{path}: search.{key}: a log-scale range takes no step")
        if "choices" in desc and not (isinstance(desc["choices"], list) and desc["choices"]):
            raise SpecError(f"{path}: search.{key}: choices must be a non-empty list, got {desc['choices']!r}")
        try:
            if "choices" in desc:
                values = tuple(config_mod.coerce(key, v) for v in desc["choices"])
                if len(set(values)) != len(values):
                    raise SpecError(f"{path}: search.{key}: choices list a value twice (after conversion): "
                                    f"{desc['choices']!r}")  # fmt: skip
                if len(values) == 1:  # as low = high: no search, and a search of one point runs one config again
                    raise SpecError(f"{path}: search.{key}: one choice ({desc['choices'][0]!r}) is no search; give "
                                    f"{key} in [fixed], or two choices or more")  # fmt: skip
                param = Param(key, choices=values)
            else:
                low, high = (config_mod.coerce(key, desc[b]) for b in ("low", "high"))
                kind = config_mod.metadata(key)["kind"]
                if kind not in ("int", "float", "amount", "duration", "span", "sizes") or not all(
                    isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)
                ):
                    raise SpecError(f"{path}: search.{key}: a range needs numbers (one layer for hidden); "
                                    f"give {key} = {{ choices = [..] }}")  # fmt: skip
                if not low < high:
                    raise SpecError(f"{path}: search.{key}: low must be below high, got low = {desc['low']!r}, "
                                    f"high = {desc['high']!r}")  # fmt: skip
                if desc.get("log") and not low > 0:
                    raise SpecError(f"{path}: search.{key}: a log-scale range needs low > 0, got {desc['low']!r}")
                if key in STEPPED and "step" not in desc:
                    raise SpecError(f"{path}: search.{key}: runs as a whole number of steps of dt: give a step "
                                    "(a multiple of dt, such as step = \"1ms\") or choices")  # fmt: skip
                step = desc.get("step")
                if kind in ("duration", "span") and isinstance(step, str):  # step = "1ms"
                    step = config_mod.coerce(key, step)
                step = _step(f"{path}: search.{key}", step, low, high, _integer(key))
                param = Param(key, float(low), float(high), bool(desc.get("log", False)), step)
        except ConfigError as exc:
            raise SpecError(f"{path}: search.{key}: {config_mod.as_keys(exc.message)}") from None
        search.append(param)
    if not search:
        raise SpecError(f"{path}: [search] names no setting")
    spec = Spec(name, trials, choice("sampler", SAMPLERS, "tpe"), choice("pruner", PRUNERS, "median"), seed, fixed,
                tuple(search), path, str(doc.get("description", "")), text)  # fmt: skip
    cfgs, refused, points = [], None, spec.corners()
    for point in points:
        try:
            cfgs.append(spec.config(point))
        except ConfigError as exc:
            # named as the spec's key (as an experiment file's), not as the flag (--tau-adapt) it has not
            table = "search." if exc.field in point else "fixed." if exc.field in spec.fixed else ""
            refused = refused or SpecError(f"{path}: {table}{exc.field}: {config_mod.as_keys(exc.message)} (a trial with "
                                           f"{format_settings(point)})")  # fmt: skip
    if cfgs:  # first: it names the searched step or choice that is no whole number of steps
        _check_stepped(spec, cfgs[0])
    if refused is not None:
        raise refused
    for point, cfg in zip(points, cfgs):  # each corner (all made: none refused): a searched n_val_batches may draw 0
        if cfg.study == "ipd" and cfg.n_val_batches < 1:
            searched = "n_val_batches" in point
            raise SpecError(f"{path}: {'search' if searched else 'fixed'}.n_val_batches must be at least 1: trials are "
                            "scored on validation data" + (f" (a trial with {format_settings(point)})" if searched else ""))  # fmt: skip
    return spec


def _hint(key: str) -> str:
    """The settings an unknown key of ``[fixed]`` or ``[search]`` may mean, as an experiment file's
    (:func:`snnsim.config.setting_hint`)."""
    return config_mod.setting_hint(key, set(config_mod.field_names()))


def _check_stepped(spec: Spec, cfg: RunConfig) -> None:
    """Every trial's ``duration`` (IPD) and ``max_delay`` (with delays) a whole number of steps
    of its ``dt``, as a trial's config must be: checked here, not by failing trials. ``cfg``: a
    config of the spec (for the settings not searched)."""
    search = {p.name: p for p in spec.search}
    delays = search["delays"].choices if "delays" in search else (cfg.delays,)
    stepped = [name for name, on in (("duration", cfg.study == "ipd"), ("max_delay", any(d != "none" for d in delays)))
               if on]  # fmt: skip
    if not stepped:
        return
    dt = search.get("dt")
    if dt is not None and not dt.choices and dt.step is None:
        raise SpecError(f"{spec.path}: search.dt: a range of dt gives durations ({', '.join(stepped)}) that are no "
                        "whole number of steps; give dt as choices (or a range with a step) that divide them")  # fmt: skip
    if dt is None:
        dts: tuple = (cfg.dt,)
    else:
        dts = dt.choices or tuple(dt.low + k * dt.step for k in range(round((dt.high - dt.low) / dt.step) + 1))
    for name in stepped:
        p = search.get(name)
        if p is None:
            values = [(name, getattr(cfg, name))]
        elif p.choices:
            values = [(f"{name} choice", v) for v in p.choices]
        else:  # a range's values are low + k * step: whole numbers of steps where low and step are
            values = [(f"{name} low", p.low), (f"{name} step", p.step)]
        for step in dts:
            for what, value in values:
                if not config_mod.whole_steps(value, step):
                    raise SpecError(f"{spec.path}: search.{name if p is not None else 'dt'}: {what} {value:g} s is no "
                                    f"whole number of steps of dt={step:g} s ({value / step:.6g} steps), which a "
                                    f"trial would refuse; give {'multiples of dt' if p is not None else 'a dt that divides it'}")  # fmt: skip


def _new_name(path: Path, table: str, key: str, seen: Any) -> str:
    try:
        return config_mod.current_name(key, seen)
    except ConfigError as exc:
        raise SpecError(f"{path}: [{table}]: {exc.message}") from None


def _step(where: str, step: Any, low: float, high: float, integer: bool) -> float | None:
    """A range's ``step``: None, or a number > 0 (an integer for an ``integer`` setting) that
    divides ``high - low`` (Optuna would otherwise shrink the range with a warning)."""
    if step is None:
        return None
    kinds = int if integer else (int, float)
    if isinstance(step, bool) or not isinstance(step, kinds) or not config_mod.finite(step) or step <= 0:
        raise SpecError(f"{where}: step must be {'an integer' if integer else 'a number'} > 0, got {step!r}")
    n = (high - low) / step
    if abs(n - round(n)) > 1e-9 * max(1.0, abs(n)):
        raise SpecError(f"{where}: high - low ({high - low:g}) must be a multiple of step ({step:g})")
    return step


def _integer(name: str) -> bool:
    """Whether setting ``name`` takes integers."""
    return config_mod.metadata(name)["kind"] in ("int", "sizes")


def _typed(p: Param, value: float) -> Any:
    return int(value) if _integer(p.name) else value


# -- the study ------------------------------------------------------------------------------------
def folder(spec: Spec, root: str | os.PathLike | None = None) -> Path:
    from .sweep.jobs import results_dir

    return results_dir(root) / spec.name


def journal_path(spec: Spec, root: str | os.PathLike | None = None) -> Path:
    """The study's Optuna journal: it exists once a worker has started the study."""
    return folder(spec, root) / "optuna.journal"


# what a sweep leaves in its folder, done or not: results, failure markers, locks, checkpoints
SWEEP_FILES = ("job-*", "task-*", ".job-*", ".jobs-*")


def versions() -> dict[str, str]:
    """The versions of what runs a study, as a study records them: those of a run's result file
    (:func:`snnsim.results.library_versions`: its ``versions``) and Optuna's (a trial file's
    ``optuna_version``); the study's ``made_with`` adds its numerics version, a merge's
    ``merged_with`` is this."""
    from . import results

    return {**results.library_versions(), "optuna": metadata.version("optuna")}


def study(spec: Spec, root: str | os.PathLike | None = None, worker: int = 0, create: bool = True) -> Any:
    """The Optuna study of ``spec`` in its journal file, created by the first worker to come
    (without ``create``: only read, nothing appended to the journal; None when there is none
    yet). Refused when the folder holds a sweep's
    job files, or the study was made by a spec with other fixed settings or search space.
    The first worker records, beside the space, the spec's ``seed`` and ``made_with`` (JSON: the
    versions of snnsim, its numerics, the libraries and Optuna).
    Worker k loads it with seed ``seed + k`` in a new study; in a study that has asked trials
    already (a worker restarted or resubmitted) with a seed drawn from (seed, k, trials asked),
    so that it does not ask the points its first run asked again; :func:`work` seeds again at
    its first ask (:func:`_worker_seed`), or goes on with its last run's sampler
    (:func:`_resumed_sampler`)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = journal_path(spec, root)
    if any(any(path.parent.glob(p)) for p in SWEEP_FILES):
        raise SpecError(f"{path.parent} holds the job files of a sweep named {spec.name!r}; "
                        "give the tuning spec another name")  # fmt: skip
    if not create and not path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = JournalLock(path)
    # epochs are reported from 1 and Optuna prunes from step n_warmup_steps on: never in the first epoch
    pruner = {"median": optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2),
              "halving": optuna.pruners.SuccessiveHalvingPruner(),
              "none": optuna.pruners.NopPruner()}[spec.pruner]  # fmt: skip
    _check_journal(path, lock, repair=create)
    try:
        storage = JournalStorage(JournalFileBackend(str(path), lock_obj=lock))
        # an existing study is loaded: create_study would log a record each time (status, best and
        # merge would write), and before a refusal below
        if spec.name in [made.study_name for made in storage.get_all_studies()]:
            s = optuna.load_study(study_name=spec.name, storage=storage, sampler=_sampler(spec, spec.seed + worker),
                                  pruner=pruner)  # fmt: skip
        elif not create:
            return None
        elif stray := _trial_files(path.parent):
            s = None  # a journal removed or emptied: a new study's trials would write over these files
        else:
            s = optuna.create_study(study_name=spec.name, storage=storage, sampler=_sampler(spec, spec.seed + worker),
                                    pruner=pruner, direction="maximize", load_if_exists=True)  # fmt: skip
        asked = len(s.get_trials(deepcopy=False)) if s is not None else 0
    except (ValueError, KeyError, TypeError, IndexError, AssertionError) as exc:  # what Optuna's replay raises
        raise _damaged(path, f"{type(exc).__name__}: {exc}") from None
    if s is None:
        raise SpecError(f"{path.parent} holds the result files of trials ({_names(stray)}) but its journal {path.name} "
                        "holds no study (removed or emptied?): a new study would write over them; move them away, "
                        "or give this spec another name")  # fmt: skip
    for t in s.get_trials(deepcopy=False):  # valid JSON of a wrong type, which Optuna's replay takes as it is
        if t.values is not None and not (len(t.values) == 1 and _real(t.values[0])):
            raise _damaged(path, f"trial {t.number} has values {t.values!r}, not one number")
    if asked and create:
        # a resumed or resubmitted worker: a seed of its own, or it would ask the points again
        # that the same seed asked before (random sampling, and TPE's first trials)
        s.sampler = _sampler(spec, int(np.random.SeedSequence([spec.seed, worker, asked]).generate_state(1)[0]))
        # (tune.work seeds again at its first ask: :func:`_worker_seed`)
    made_by = s.user_attrs.get("space")
    if made_by is None:
        if not create:
            return s  # no trial yet: the first worker records the space
        s.set_user_attr("space", spec.space)  # the first worker; another racing it sets the same text
        from . import results

        # what made the study: the sampler's seed, the versions of what ran it
        s.set_user_attr("seed", spec.seed)
        made_with = {**versions(), "numerics_version": results.NUMERICS_VERSION}
        s.set_user_attr("made_with", json.dumps(made_with, sort_keys=True))
    elif changed := [
        t
        for t in ("fixed", "search")
        if _canonical(json.loads(made_by))[t] != json.loads(spec.space)[t]
        and not (t == "fixed" and _same_configs(json.loads(made_by)["fixed"], spec.fixed, s))
    ]:
        raise SpecError(f"{path}: made by a spec named {spec.name!r} with other {' and '.join(changed)} settings; "
                        "its trials would mix: give this spec another name, or remove that folder")  # fmt: skip
    if create:  # run, worker: status, best and merge read what the trials made
        _check_numerics(s, path)
        _check_data(spec, s, path)
    return s


def _same_configs(made_by: dict[str, Any], fixed: dict[str, Any], s: Any) -> bool:
    """Whether the ``[fixed]`` settings ``made_by`` (a study's, as :attr:`Spec.space` wrote them)
    and ``fixed`` (a spec's) differ only in defaults given or left out (``seed = 0``): the same trials.
    Only for a study ``s`` made by this snnsim: another's defaults may differ."""
    from dataclasses import fields

    from . import __version__

    if json.loads(s.user_attrs.get("made_with", "{}")).get("snnsim") != __version__:
        return False
    defaults = {f.name: f.default for f in fields(RunConfig)}
    keys = sorted(set(made_by) | set(fixed))
    if any(k not in defaults for k in keys):
        return False
    try:
        old = {k: made_by[k] if k in made_by else config_mod.coerce(k, defaults[k]) for k in keys}
        new = {k: fixed[k] if k in fixed else config_mod.coerce(k, defaults[k]) for k in keys}
    except (ConfigError, TypeError, ValueError):  # a default this snnsim cannot write as a spec's: not the same
        return False
    return _canonical({"fixed": old, "search": []}) == _canonical({"fixed": new, "search": []})


def _trial_files(where: Path) -> list[Path]:
    """The trials' result files in the study folder ``where``, by trial number."""
    return sorted(where.glob("trial-*.h5"), key=lambda p: (len(p.name), p.name))


def _names(paths: list[Path]) -> str:
    return ", ".join(p.name for p in paths[:3]) + (", ..." if len(paths) > 3 else "")


def _real(value: Any) -> bool:
    """Whether ``value`` is a number (not a boolean), as a trial's value must be."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_numerics(s: Any, path: Path) -> None:
    """A study made by an snnsim of other numerics (its ``made_with``): a worker of this one is
    refused, as a sweep's job files of other numerics are stale: else the pruner and ``best``
    compare trials whose numbers the two snnsims would not give alike."""
    from . import results

    made_with = json.loads(s.user_attrs.get("made_with", "{}"))
    made = made_with.get("numerics_version")
    if made is not None and made != results.NUMERICS_VERSION:
        raise SpecError(f"{path}: made by snnsim {made_with.get('snnsim')} with numerics version {made}, and this "
                        f"snnsim has {results.NUMERICS_VERSION}: its trials would mix with this worker's; run the "
                        "workers with that snnsim, or give this spec another name")  # fmt: skip


def _check_data(spec: Spec, s: Any, path: Path) -> None:
    """A BMI data file named in ``[fixed]``, or the synthetic set it names (the standard one where
    it names none): the study remembers its SHA-256 (the first worker's), and a worker that finds
    the file changed since, or loads another set (its cache replaced, another generator), is
    refused, as a sweep's stale jobs are: else trials on two data sets mix, and the pruner and
    ``best`` compare them."""
    from .datasets.bmi import is_file_source, synthetic_sha256
    from .results import data_changed, file_sha256

    data = spec.fixed.get("data")
    if spec.fixed.get("study") != "bmi" or "data" in [p.name for p in spec.search]:
        return
    try:
        now = file_sha256(data) if is_file_source(data) else synthetic_sha256(data)
    except (OSError, SnnsimError):
        return  # a trial says why it cannot read it
    key = "data_file_sha256" if is_file_source(data) else "synthetic_data_sha256"
    made_on = s.user_attrs.get(key)
    if made_on is None:
        s.set_user_attr(key, now)
    elif key == "data_file_sha256":
        if changed := data_changed(data, made_on, "the study's trials trained on it as it was and would mix "
                                   "with this worker's: restore that file, or give this spec another name"):  # fmt: skip
            raise SpecError(f"{path}: {changed}")
    elif made_on != now:
        raise SpecError(f"{path}: its trials trained on synthetic data {data or 'synthetic'} with SHA-256 "
                        f"{made_on[:12]}...; this snnsim's generator or its cache gives {now[:12]}... now; its trials "
                        "would mix: restore that cache ($SNNSIM_CACHE), or give this spec another name")  # fmt: skip


def _damaged(path: Path, why: str) -> SpecError:
    return SpecError(f"{path}: damaged, not an Optuna journal that can be read ({why}); nothing was written to it: "
                     "restore it, or move its folder away to start the study again")  # fmt: skip


def _check_journal(path: Path, lock: Any, repair: bool = True) -> None:
    """Refuse a journal that is not one before Optuna appends to it: Optuna's reader passes over a
    bad last line (it raises only for a bad line with lines after it), and the record it then
    appends would leave the journal unreadable for good. An unfinished last record is cut
    (:func:`_drop_unfinished_record`; with ``repair``: by a command that appends)."""
    if repair:
        _drop_unfinished_record(path, lock)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" after the last newline; else a record another worker is writing now
    if tail and not tail.startswith(b'{"op_code":'):
        raise _damaged(path, "its last line is no journal record")
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            raise _damaged(path, f"line {number} is not JSON") from None
        if not isinstance(record, dict) or "op_code" not in record:
            raise _damaged(path, f"line {number} is no Optuna record")


def _drop_unfinished_record(path: Path, lock: Any) -> None:
    """Cut a journal's last record if it is unfinished (no newline: a worker killed, or a disk
    that filled up, while it wrote): Optuna skips such a line when it reads, but appends the next
    record to it, which makes one line that is no JSON and the whole journal unreadable. Checked
    again under the journal's lock, so that a record another worker is writing now is left alone;
    a last line that is no record's beginning (another file) is left for the reader to refuse."""
    if not _unfinished(path):
        return
    lock.acquire()
    try:
        _cut_unfinished_record(path)
    finally:
        lock.release()


def _cut_unfinished_record(path: Path) -> None:
    """:func:`_drop_unfinished_record`'s cut, by a caller that holds the journal's lock."""
    if size := _unfinished(path):
        with open(path, "rb") as f:
            data = f.read(size)
        keep = data.rfind(b"\n") + 1
        if not data[keep:].startswith(b'{"op_code":'):  # not a record cut short: leave it to the reader
            return
        with open(path, "r+b") as f:
            f.truncate(keep)
            os.fsync(f.fileno())
        print(f"{PROG}: note: {path}: dropped an unfinished last record ({size - keep} bytes; its worker "
              "stopped while writing it, and no reader had taken it)", file=sys.stderr)  # fmt: skip


class JournalLock:
    """The journal's lock for Optuna's ``JournalFileBackend``: Optuna's ``JournalFileOpenLock``
    (the file ``optuna.journal.lock``, made with ``O_EXCL``, safe on NFSv3+; removed on release),
    whose holder also holds a ``flock`` on that file and writes its host and process in it. A
    worker killed while it appended (SIGKILL) leaves the file, and Optuna's lock waits 30 s
    (``grace``) before it breaks it; here the ``flock`` the kernel let go of (on NFS: the lock
    manager) says the holder is gone, and the next worker takes the lock over at once (and cuts
    the dead writer's unfinished record). A lock file whose ``flock`` is held (a live holder), or
    with no holder written in it (being made, an older snnsim's, or written on a full disk), is
    waited for as Optuna does, and broken after ``grace`` seconds unchanged, as Optuna breaks it."""

    grace = 30.0  # JournalFileOpenLock's default grace_period

    def __init__(self, journal: str | os.PathLike) -> None:
        self.journal = Path(journal)
        self.path = Path(f"{journal}.lock")  # optuna's LOCK_FILE_SUFFIX: older workers exclude us too
        self._fd: int | None = None

    def acquire(self) -> bool:
        import time

        pause, seen, since = 0.001, None, time.monotonic()
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
            except FileExistsError:
                if self._take_over():
                    return True
                try:
                    mtime = os.stat(self.path).st_mtime_ns
                except FileNotFoundError:
                    continue
                if mtime != seen:
                    seen, since = mtime, time.monotonic()
                elif time.monotonic() - since > self.grace:  # Optuna's rule: unchanged that long
                    print(f"{PROG}: note: {self.path}: held for {self.grace:g} s by "
                          f"{self._holder() or 'an unknown process'}; broken, as Optuna does", file=sys.stderr)  # fmt: skip
                    self._remove()
                    pause = 0.001
                time.sleep(pause)
                pause = min(pause * 2, 1.0)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # a waiter's probe holds it for a moment at most
            except BaseException:
                os.close(fd)
                self._remove()
                raise
            self._fd = fd
            self._write_name()
            return True

    def release(self) -> None:
        """Remove the lock file (renamed first, as Optuna does), then let go of its ``flock``."""
        fd, self._fd = self._fd, None
        try:
            if fd is not None and not self._same_file(fd):  # broken after the grace period: not ours to remove
                raise RuntimeError("Error: did not possess lock")  # Optuna's words
            if not self._remove():
                raise RuntimeError("Error: did not possess lock")
        finally:
            if fd is not None:
                os.close(fd)

    def _take_over(self) -> bool:
        """Take the lock of a holder that is gone: its lock file names it, and its ``flock`` is
        free while the file is still the one at the lock's path (a holder removes it before it
        lets go of the ``flock``)."""
        try:
            fd = os.open(self.path, os.O_RDWR)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: a live holder
            os.close(fd)
            return False
        try:
            was = os.pread(fd, 200, 0).decode(errors="replace").strip() if self._same_file(fd) else ""
        except OSError:
            was = ""
        if not _gone(was):  # released meanwhile, its name not written yet, or a holder this host cannot see
            os.close(fd)
            return False
        self._fd = fd
        self._write_name()
        print(f"{PROG}: note: {self.path}: its holder ({was}) is gone; lock taken over", file=sys.stderr)
        _cut_unfinished_record(self.journal)
        return True

    def _same_file(self, fd: int) -> bool:
        """Whether ``fd`` is the file at the lock's path now."""
        try:
            mine, now = os.fstat(fd), os.stat(self.path)
        except OSError:
            return False
        return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)

    def _holder(self) -> str | None:
        try:
            return self.path.read_text(errors="replace").strip() or None
        except OSError:
            return None

    def _remove(self) -> bool:
        import uuid

        away = f"{self.path}{uuid.uuid4()}.rename"  # optuna's RENAME_FILE_SUFFIX
        try:
            os.rename(self.path, away)
        except OSError:
            return False
        os.unlink(away)
        return True

    def _write_name(self) -> None:
        """Write who holds the lock in its file (held): on a full disk nothing, and a holder
        that dies then is waited for as Optuna does (the lock itself takes no block)."""
        import socket

        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{socket.gethostname()} pid {os.getpid()}\n".encode(), 0)
        except OSError:
            pass


def _gone(holder: str) -> bool:
    """Whether the holder a journal lock file names (``HOST pid N``) is a process of this host that
    has ended. A free ``flock`` alone is not trusted: on an NFS mount with ``local_lock=flock`` (or
    ``nolock``) a holder on another host holds its ``flock`` where this host cannot see it, so such
    a lock is left to Optuna's 30 s rule."""
    import socket

    from .atomic_write import process_gone

    host, _, pid = holder.rpartition(" pid ")
    return (
        host == socket.gethostname() and pid.isdigit() and process_gone(int(pid))
    )  # alive, or its pid taken again: wait


def _unfinished(path: Path) -> int:
    """The size of the journal at ``path`` if its last byte is not a newline, else 0."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return 0
            f.seek(size - 1)
            return size if f.read(1) != b"\n" else 0
    except FileNotFoundError:
        return 0


def _sampler(spec: Spec, seed: int) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed) if spec.sampler == "tpe" else optuna.samplers.RandomSampler(seed)


def trial_path(spec: Spec, number: int, root: str | os.PathLike | None = None) -> Path:
    return folder(spec, root) / f"trial-{number}.h5"


class PruneHook:
    """Reports each epoch's validation score to the trial; prunes it when the pruner says so."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def __call__(self, record: EpochRecord) -> None:
        import optuna

        if record.score is None:
            return
        self.trial.report(float(record.score[0]), record.epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned()


def run_trial(spec: Spec, trial: Any, root: str | os.PathLike | None = None, written: Any = None) -> float:
    """One trial: suggest, train with pruning, write its result file; the best validation score.
    ``written(value)``: called once the file is in place, with the stop signals held from the
    write on (:func:`work` records the trial there: a stop in between would call it stopped)."""
    from . import results, runner
    from .cli import signals_held

    params = {p.name: p.suggest(trial) for p in spec.search}
    cfg = spec.config(params)
    ds = runner.run_configs([cfg], progress=False, hooks=lambda cfgs, members: [PruneHook(trial)])[0]
    curve = ds["val_acc_curve" if spec.objective == "val_acc" else "val_fvaf_curve"].values
    value = float(np.nanmax(curve[0]))
    ds.attrs.update({"trial_number": trial.number, "trial_params": json.dumps(params), "objective": spec.objective,
                     "objective_value": value, "tune_spec": spec.text,
                     "optuna_version": versions()["optuna"]})  # fmt: skip
    with signals_held():
        results.write(ds, trial_path(spec, trial.number, root), overwrite=True)
        if written is not None:
            written(value)
    return value


def _uncounted(t: Any) -> bool:
    """Whether trial ``t`` is left out of the budget and of the counts: an ask past the budget,
    or a trial stopped by a signal (its worker was cancelled or reached its time limit)."""
    return bool(t.user_attrs.get("over_budget") or t.user_attrs.get("stopped"))


def _used(spec: Spec, s: Any, number: int, root: str | os.PathLike | None = None) -> int:
    """The trials before trial ``number`` that count against the budget: neither uncounted
    (:func:`_uncounted`) nor stale (:func:`stale`: their numbers are not this snnsim's, so new
    trials take their places). Trial numbers are unique and dense across workers, so each trial
    sees the ones asked before it; a trial stopped (or found stale) later only frees its place
    for the trials asked after."""
    counted = [t for t in s.get_trials(deepcopy=False) if t.number < number and not _uncounted(t)]
    complete = [t.number for t in counted if _state(t) == "complete"]
    reasons = stale(spec, s, complete, root) if complete else {}
    return sum(1 for t in counted if t.number not in reasons)


def _budget_used(info: dict[str, Any]) -> int:
    """The trials of a :func:`summary` that count against the budget, as :func:`_used` counts them:
    stopped and stale ones do not (a worker runs a new trial in each one's place)."""
    return sum(len(info[k]) for k in ("complete", "running", "pruned", "failed", "damaged"))


def work(spec: Spec, root: str | os.PathLike | None = None, worker: int = 0, log=print) -> int:  # noqa: ANN001
    """Run trials until the budget is used: ask a trial, stop when the trials before it that
    count (:func:`_used`: stale ones do not) fill the budget."""
    import optuna
    from optuna.trial import TrialState

    s = study(spec, root, worker)
    _clean_trial_leftovers(spec, root, log)
    _record_left_running(spec, s, root, log)
    # the sampler of its first ask: its last run's, where it was started again (a seed of its own else)
    resumed = _resumed_sampler(spec, s, worker)
    done = failed = 0
    with stop_on_signals(), _sampler_kept(spec, s, worker) as asked:
        while True:
            over = False
            try:  # a stop whose raise was lost (in a finalizer) since the last trial: no next one
                stop_if_signalled()
            except Interrupted as exc:
                log(f"worker {worker}: stopped by {exc.name} before its next trial")
                return 128 + exc.signum
            try:
                with signals_held():  # a stop between the ask and its check must not leave the trial running
                    if not done and resumed:  # its last run's sampler, as it was when it asked the next trial
                        s.sampler = resumed[0]
                    asking = _frozen(s.sampler)
                    trial = s.ask()
                    trial.set_user_attr("worker", _worker_name())  # whose it is: see _record_left_running()
                    if job := _slurm_job():  # asked of SLURM where its host cannot be: _ended_slurm_jobs()
                        trial.set_user_attr("slurm_job", job)
                        if restart := _slurm_restart():  # the job requeued: its earlier attempts' trials have ended
                            trial.set_user_attr("slurm_restart", restart)
                    trial.set_user_attr("worker_number", worker)  # whose sampler asked it: _resumed_sampler()
                    if not done:  # its first trial, whose number no other worker has
                        if resumed and not _asked_since(s, worker, resumed[2], trial.number):
                            s.sampler = resumed[1] or s.sampler
                        else:
                            s.sampler = _sampler(spec, _worker_seed(spec, worker, trial.number))
                    asked.append((trial, asking, None if done else _frozen(s.sampler)))
                    if over := _used(spec, s, trial.number, root) >= spec.trials:
                        trial.set_user_attr("over_budget", True)  # before tell: a finished trial takes no attrs
                        s.tell(trial, state=TrialState.FAIL)
            except Interrupted as exc:
                if not over:
                    _tell(s, trial, state=TrialState.FAIL, stopped=exc.name)
                    log(f"trial {trial.number}: stopped by {exc.name} before it started; not counted against "
                        "the budget")  # fmt: skip
                return 128 + exc.signum
            if over:
                log(f"{spec.name}: budget of {plural(spec.trials, 'trial')} used; worker {worker} stops")
                if done and failed == done:
                    log(f"every trial of worker {worker} failed ({done}); their errors are above")
                    return EXIT_FAILED
                return 0
            recorded: list[float] = []  # its value, once told: the file is in place

            def record(value: float, trial: Any = trial, recorded: list = recorded) -> None:
                s.tell(trial, value)
                recorded.append(value)

            try:
                value = run_trial(spec, trial, root, written=record)
            except optuna.TrialPruned:
                if stop := _tell(s, trial, state=TrialState.PRUNED):
                    log(f"trial {trial.number}: pruned, recorded; then stopped by {stop.name}")
                    return 128 + stop.signum
                log(f"trial {trial.number}: pruned")
            except Interrupted as exc:
                if recorded:  # the stop came once its file was in place: complete
                    log(f"trial {trial.number}: {spec.objective} = {recorded[0]:.4f} ({format_settings(trial.params)}), recorded; then "
                        f"stopped by {exc.name}")  # fmt: skip
                    return 128 + exc.signum
                _tell(s, trial, state=TrialState.FAIL, stopped=exc.name)
                log(f"trial {trial.number}: stopped by {exc.name}; not counted against the budget")
                return 128 + exc.signum
            except WriteFailed as exc:  # a full disk: every next trial would train only to lose its file too
                stop = _tell(s, trial, state=TrialState.FAIL, stopped="unwritten result file", error=str(exc))
                log(f"trial {trial.number}: {NOT_WRITTEN}: {exc}; not counted against the budget; worker {worker} "
                    "stops (run again once there is room)")  # fmt: skip
                return 128 + stop.signum if stop else exc.exit_code
            except Exception as exc:  # noqa: BLE001 - recorded, and the worker goes on
                # the spec's keys, not the run's flags; its values (a path that starts as a flag) as given
                error = f"{type(exc).__name__}: {config_mod.as_keys(str(exc), [*spec.fixed.values(), *trial.params.values()])}"
                if stop := _tell(s, trial, state=TrialState.FAIL, error=error):
                    log(f"trial {trial.number}: failed: {error}; recorded, then stopped by {stop.name}")
                    return 128 + stop.signum
                failed += 1
                log(f"trial {trial.number}: failed: {error}")
            else:  # its file is written, and recorded
                log(f"trial {trial.number}: {spec.objective} = {value:.4f} ({format_settings(trial.params)})")
            done += 1


def _worker_name() -> str:
    """This worker as a trial records it (user attribute ``worker``): ``HOST pid N``."""
    import socket

    return f"{socket.gethostname()} pid {os.getpid()}"


#: How long a running trial may go without its worker's name (minutes): a worker writes it just after
#: asking for the trial (two journal writes, apart by at most a wait for the journal's lock, which
#: Optuna breaks after 30 s), so one without it after that was killed between the two.
UNNAMED_MINUTES = 5.0

#: The worker of a trial whose worker was killed before it could write its name.
UNNAMED = "not named: killed just after it asked for the trial"


def _ended_worker(t: Any, ended_jobs: Collection[str] = ()) -> str | None:
    """The worker of running trial ``t`` if it has ended (``HOST pid N``, a process of this host
    that has ended, or one of another host whose SLURM job is among ``ended_jobs``, see
    :func:`_ended_slurm_jobs`, or of an earlier attempt of this process's requeued job, see
    :func:`_earlier_attempt`; :data:`UNNAMED` for a trial left without a name, see
    :data:`UNNAMED_MINUTES`), else None: alive, or on another host and not known to have ended."""
    import datetime

    who = t.user_attrs.get("worker")
    if who is None:
        start = t.datetime_start
        old = start is not None and datetime.datetime.now() - start > datetime.timedelta(minutes=UNNAMED_MINUTES)
        return UNNAMED if old else None
    job = t.user_attrs.get("slurm_job")
    return who if _gone(who) or job in ended_jobs or _earlier_attempt(job, t.user_attrs.get("slurm_restart", 0)) \
        else None  # fmt: skip


def _slurm_job() -> str | None:
    """This process's SLURM job id (an array task's own), None outside SLURM."""
    job = os.environ.get("SLURM_JOB_ID", "")
    return job if job.isascii() and job.isdigit() else None


def _slurm_restart() -> int:
    """How many times SLURM has started this process's job again (requeued: a node failure,
    ``scontrol requeue``); 0 outside SLURM."""
    count = os.environ.get("SLURM_RESTART_COUNT", "")
    return int(count) if count.isascii() and count.isdigit() else 0


def _earlier_attempt(job: Any, restart: Any) -> bool:
    """Whether a trial asked in SLURM job ``job`` at its ``restart``-th start is of an earlier
    attempt of this process's own job, requeued since (on another node, maybe): its worker has
    ended, while ``squeue`` says the job runs (:func:`_ended_slurm_jobs` cannot tell)."""
    return job is not None and job == _slurm_job() and isinstance(restart, int) and restart < _slurm_restart()


#: SLURM job states in which a worker's process may still run; in any other (ended, or requeued and
#: waiting to start again) it is gone, as it is once the job has left the queue.
SLURM_LIVE = ("RUNNING", "COMPLETING", "SUSPENDED", "CONFIGURING", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING")


def _ended_slurm_jobs(trials: Iterable[Any]) -> set[str]:
    """The SLURM jobs of the workers of running ``trials`` on other hosts (whose processes this
    host cannot see) in which no worker runs any more, as ``squeue`` says: the job has left the
    queue, ended, or was requeued. Empty where ``squeue`` is absent or does not answer."""
    import socket

    from .sweep.queue import _squeue_env, ask_slurm

    here = socket.gethostname()
    jobs = sorted({job for t in trials if (job := t.user_attrs.get("slurm_job"))
                   and not str(t.user_attrs.get("worker", "")).startswith(f"{here} pid ")})  # fmt: skip
    if not jobs or shutil.which("squeue") is None:
        return set()
    try:
        proc = ask_slurm(["squeue", "-h", "--all", "-j", ",".join(jobs), "-o", "%A|%T"], "squeue",
                         "whether the workers of running trials still run", env=_squeue_env())  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return set()
    if proc.returncode != 0:  # one job asked for that has left the queue: "Invalid job id specified"
        return set(jobs) if len(jobs) == 1 and "Invalid job id" in proc.stderr else set()
    live = {job for job, _, state in (line.strip().partition("|") for line in proc.stdout.splitlines())
            if state in SLURM_LIVE}  # fmt: skip
    return set(jobs) - live


def _record_left_running(spec: Spec, s: Any, root: str | os.PathLike | None, log) -> None:  # noqa: ANN001
    """Record the trials left running by a worker of this host that has ended: complete with its
    file's value where the trial's result file is in place (the worker could not write the
    journal when it recorded the trial: its folder read-only or full), else failed (the worker
    was killed while the trial ran: SIGKILL, the out-of-memory killer), which counts against the
    budget as a running trial did; trials left without a worker's name (:func:`_ended_worker`)
    too. Trials of workers on other hosts (whose processes this host cannot see) are left as they
    are."""
    from optuna.trial import TrialState

    running = s.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    ended_jobs = _ended_slurm_jobs(running)
    for t in running:
        who = _ended_worker(t, ended_jobs)
        if who is None:
            continue
        value = _file_value(spec, t.number, root)
        if value is None:  # killed while it ran: failed, as a trial that raised (it counts against the budget)
            error = f"its worker ({who}) ended while it ran (killed: SIGKILL, out of memory?)"
            try:
                s._storage.set_trial_user_attr(t._trial_id, "error", error)
            except RuntimeError:  # another worker recorded it meanwhile
                continue
            s.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
            log(f"trial {t.number}: recorded failed: {error}")
            continue
        s.tell(t.number, value, skip_if_finished=True)  # another worker may have recorded it meanwhile
        log(f"trial {t.number}: recorded complete ({spec.objective} = {value:.4f}): its file was written, and its "
            f"worker ({who}) ended before it could record it")  # fmt: skip


def _file_value(spec: Spec, number: int, root: str | os.PathLike | None) -> float | None:
    """The objective value in trial ``number``'s result file, if a file of that trial is in place."""
    from .results import file_attrs

    try:
        attrs = file_attrs(trial_path(spec, number, root))
        if int(attrs["trial_number"]) == number:
            return float(attrs["objective_value"])
    except Exception:  # noqa: BLE001, S110 - gone or damaged (h5py raises many kinds): no value to record
        pass
    return None


def _clean_trial_leftovers(spec: Spec, root: str | os.PathLike | None, log) -> None:  # noqa: ANN001
    """Remove the temporaries that workers killed while they wrote a trial file left (those of
    live writers are kept)."""
    from .atomic_write import clean_leftovers, leftovers_by_target

    where = folder(spec, root)
    removed = []
    for target, found in leftovers_by_target(where, os.listdir(where)).items():
        if re.fullmatch(r"trial-\d+\.h5", target):
            removed += clean_leftovers(where / target, found)[0]
    if removed:
        log(f"removed {len(removed)} temporary file(s) of trial files that killed workers were writing")


def _worker_seed(spec: Spec, worker: int, first: int) -> int:
    """The sampler seed of worker ``worker`` whose first trial is number ``first``: ``seed + worker``
    where that is trial 0 (a new study), else drawn from (seed, worker, first), as :func:`study`
    draws it for a worker that finds ``first`` trials asked. Two workers of one number that load
    the study at once (two ``tune run``, two arrays submitted) ask different first trials, so they
    do not sample the same points."""
    if first == 0:
        return spec.seed + worker
    return int(np.random.SeedSequence([spec.seed, worker, first]).generate_state(1)[0])


def _frozen(sampler: Any) -> str:
    """``sampler`` as text for a trial's user attributes: pickled, as Optuna's docs save a sampler
    to resume a study with it (its random state, where it stands in its sequence)."""
    return base64.b64encode(zlib.compress(pickle.dumps(sampler))).decode("ascii")


def _optuna() -> str:
    return metadata.version("optuna")


class _SamplerUnpickler(pickle.Unpickler):
    """Unpickles what a pickled sampler holds and nothing else: the classes and functions of
    Optuna's samplers, distributions and search spaces, and numpy's random state (a journal that
    others can write to must not run their code)."""

    NUMPY = {("numpy", "dtype"), ("numpy", "ndarray"), ("numpy._core.multiarray", "_reconstruct"),
             ("numpy.core.multiarray", "_reconstruct"), ("numpy.random._mt19937", "MT19937"),
             ("numpy.random._pickle", "__bit_generator_ctor"), ("numpy.random._pickle", "__randomstate_ctor")}  # fmt: skip
    OPTUNA = ("optuna.samplers.", "optuna.distributions", "optuna.search_space.")

    def find_class(self, module: str, name: str) -> Any:
        import inspect

        if (module, name) in self.NUMPY:
            return super().find_class(module, name)
        if module.startswith(self.OPTUNA) and "." not in name:
            found = super().find_class(module, name)
            if (inspect.isclass(found) or inspect.isfunction(found)) and found.__module__ == module:
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a sampler")


#: The most bytes a kept sampler unpacks to (:func:`_thawed`): a TPE or random sampler pickles to some kB.
KEPT_SAMPLER_BYTES = 16 * 2**20


def _thawed(spec: Spec, text: Any) -> Any:
    """The sampler of :func:`_frozen` text, or None: no text, unreadable, or not the spec's sampler."""
    import io

    try:
        unpack = zlib.decompressobj()
        raw = unpack.decompress(base64.b64decode(text), KEPT_SAMPLER_BYTES)
        if unpack.unconsumed_tail:  # no sampler is that large: a zlib bomb would take the worker's memory
            return None
        sampler = _SamplerUnpickler(io.BytesIO(raw)).load()
    except Exception:  # noqa: BLE001 - absent, damaged or not a sampler: the worker samples with a seed of its own
        return None
    return sampler if type(sampler) is type(_sampler(spec, 0)) else None


def _kept_key(worker: int) -> str:
    """The study's user attribute that keeps worker ``worker``'s sampler as it stopped (:func:`_keep_sampler`)."""
    return f"sampler_of_worker_{worker}"


@contextlib.contextmanager
def _sampler_kept(spec: Spec, s: Any, worker: int) -> Iterator[list[tuple[Any, str, str | None]]]:
    """A list for :func:`work` to add each trial it asks to (the trial, the sampler that asked it,
    the one that drew its settings: None for the same), whose last :func:`_keep_sampler` keeps at the end."""
    asked: list[tuple[Any, str, str | None]] = []
    try:
        yield asked
    finally:
        _keep_sampler(spec, s, worker, asked)


def _keep_sampler(spec: Spec, s: Any, worker: int, asked: list[tuple[Any, str, str | None]]) -> None:
    """Keep in the study where worker ``worker``, ending, leaves its sampler, for a worker of its
    number started again (:func:`_resumed_sampler`): after its last trial (``asked[-1]``: the
    trial, the sampler that asked it and the one that drew its settings, None for the same), the
    sampler now where that trial counts (complete, pruned, failed), else (stopped, or an ask past
    the budget: not counted) the ones that asked it and drew its settings, so that its point is
    asked again. Nothing where it asked none, or its trial is left running (an error); a journal
    that cannot be written (a full disk) leaves the worker started again a seed of its own."""
    from optuna.trial import TrialState

    if not asked:
        return
    trial, asking, drawing = asked[-1]
    last = next(t for t in s.get_trials(deepcopy=False) if t.number == trial.number)
    if last.state == TrialState.RUNNING:
        return
    kept = (asking, drawing) if _uncounted(last) else (_frozen(s.sampler), None)
    record = {"trial": trial.number, "seed": spec.seed, "sampler": spec.sampler, "optuna": _optuna(),
              "asking": kept[0], "drawing": kept[1]}  # fmt: skip
    with contextlib.suppress(Exception, Interrupted), signals_held():  # noqa: BLE001 - kept where it can be
        s.set_user_attr(_kept_key(worker), json.dumps(record))


def _resumed_sampler(spec: Spec, s: Any, worker: int) -> tuple[Any, Any, int] | None:
    """Where worker ``worker`` started again goes on sampling, as an uninterrupted worker would
    have (:func:`_keep_sampler`): (the sampler to ask its first trial with; the one to draw that
    trial's settings with, None for the same; the number of its last run's last trial). None
    where its last run kept none (killed: SIGKILL, out of memory), or asked a trial since (two
    workers of one number at once), or the spec's seed or sampler or Optuna's version changed
    since: a seed of its own then (:func:`_worker_seed`)."""
    try:
        kept = json.loads(s.user_attrs.get(_kept_key(worker), "{}"))
        mine = [t.number for t in s.get_trials(deepcopy=False) if t.user_attrs.get("worker_number") == worker]
        if not mine or kept.get("trial") != mine[-1]:
            return None
        if [kept.get(k) for k in ("seed", "sampler", "optuna")] != [spec.seed, spec.sampler, _optuna()]:
            return None
    except (TypeError, ValueError, AttributeError, RecursionError):  # not what _keep_sampler wrote (nested too deep)
        return None
    asking = _thawed(spec, kept.get("asking"))
    drawing = None if kept.get("drawing") is None else _thawed(spec, kept["drawing"])
    if asking is None or (kept.get("drawing") is not None and drawing is None):
        return None
    return asking, drawing, mine[-1]


def _asked_since(s: Any, worker: int, last: int, number: int) -> bool:
    """Whether another process of worker number ``worker`` asked a trial between trial ``last``
    (its last run's) and trial ``number`` (this one's first): two of one number started at once,
    which must not both go on with the same sampler."""
    return any(last < t.number < number and t.user_attrs.get("worker_number") == worker
               for t in s.get_trials(deepcopy=False))  # fmt: skip


def _tell(s: Any, trial: Any, value: float | None = None, state: Any = None, **attrs: str) -> Interrupted | None:
    """Record ``trial``: its user ``attrs``, then its ``value`` (complete) or ``state``, with the
    stop signals held, so that a stop cannot leave it running for good. Returns the stop that
    came meanwhile, if any."""
    try:
        with signals_held():
            for name, text in attrs.items():
                trial.set_user_attr(name, text)
            s.tell(trial, value, state=state)
    except Interrupted as stop:
        return stop
    return None


def summary(spec: Spec, root: str | os.PathLike | None = None, progress: str | None = None) -> dict[str, Any]:
    """Trials by state (over-budget asks left out; ``stopped``: by a signal or by a result file
    that could not be written, not counted against the budget; ``stale``: complete, but made with other numerics or data, see :func:`stale`;
    ``damaged``: complete, but its file cannot be read, see :func:`damaged`)
    and the best completed trial that is not stale. Reads the study without creating it. With
    ``progress``, a bar of that description counts the trial files checked, on a terminal only."""
    return _summary_of(spec, study(spec, root, create=False), root, progress=progress)


def _checking(spec: Spec) -> str:
    """The description of the bar of the trial files checked (``status``, ``best``, ``merge``)."""
    return f"{spec.name}: checking trial files"


def _summary_of(spec: Spec, s: Any, root: str | os.PathLike | None = None, check_data: bool = True,
                progress: str | None = None) -> dict[str, Any]:  # fmt: skip
    """:func:`summary` of the loaded study ``s`` (None: no study yet); ``check_data=False``
    (for ``merge``, which loads the files next) skips reading their arrays back; ``progress``:
    the description of a bar of the trial files checked (on a terminal only), else none."""
    from tqdm.auto import tqdm

    by: dict[str, list[int]] = {"complete": [], "running": [], "pruned": [], "failed": [], "stopped": []}
    trials = {}
    for t in s.get_trials(deepcopy=False) if s is not None else ():
        if t.user_attrs.get("over_budget"):
            continue
        by[_state(t)].append(t.number)
        trials[t.number] = t
    damage, reasons = {}, {}
    # a bar on a terminal, as sweep status' of its job files: seconds for hundreds of files, each read and verified
    for n in tqdm(by["complete"], desc=progress, unit="file", disable=None if progress else True, leave=False):
        if found := damaged(spec, [n], root, check_data):
            damage.update(found)
        else:
            reasons.update(stale(spec, s, [n], root))
    by["complete"] = [n for n in by["complete"] if n not in damage]
    by["stale"] = sorted(reasons)
    by["complete"] = [n for n in by["complete"] if n not in reasons]
    by["damaged"] = sorted(damage)
    out: dict[str, Any] = {"name": spec.name, "objective": spec.objective, "budget": spec.trials, **by,
                           "reasons": {str(n): why for n, why in sorted(reasons.items())},
                           "damage": {str(n): why for n, why in sorted(damage.items())}}  # fmt: skip
    # complete, but its file removed since: merge refuses it, or leaves it out (as a damaged one)
    gone = {n: trial_path(spec, n, root) for n in by["complete"]}
    out["gone"] = [n for n, path in gone.items() if not path.exists()]
    out["gone_files"] = {str(n): str(gone[n]) for n in out["gone"]}
    # running trials whose worker, a process of this host, has ended (killed): none will finish them
    ended_jobs = _ended_slurm_jobs(trials[n] for n in by["running"])
    out["ended"] = {str(n): who for n in by["running"] if (who := _ended_worker(trials[n], ended_jobs)) is not None}
    if eligible := sorted(by["complete"] + by["damaged"]):  # a damaged file: the journal still holds its params
        best = max((trials[n] for n in eligible), key=lambda t: t.value)  # the first of equals, as Optuna's
        out["best"] = {"number": best.number, "value": best.value, "params": best.params}
    return out


def damaged(spec: Spec, numbers: list[int], root: str | os.PathLike | None = None,
            check_data: bool = True) -> dict[int, str]:  # fmt: skip
    """Why the file of each of the completed trials ``numbers`` cannot be read, as a sweep's
    corrupt job's (:func:`snnsim.sweep.jobs.damage_of`): cut short, its arrays changed after
    writing (``check_data``), or without its complete mark. A file that is gone is not damaged
    (``merge`` names it)."""
    from .sweep.jobs import damage_of

    out = {}
    for n in numbers:
        path = trial_path(spec, n, root)
        if path.exists() and (damage := damage_of(path, check_data)[0]):
            out[n] = f"{path}: {damage}"
    return out


def stale(spec: Spec, s: Any, numbers: list[int], root: str | os.PathLike | None = None) -> dict[int, str]:
    """Why each of the completed trials ``numbers`` of the loaded study ``s`` is stale, as a sweep's
    job is (:func:`snnsim.sweep.jobs.file_state`): its result file was made with other numerics
    than this snnsim's (:data:`snnsim.results.NUMERICS_VERSION`), or on a BMI data file that has
    changed since, or on a synthetic set that this snnsim's generator (or its cache) gives
    otherwise now. A trial whose file is gone takes the numerics of the study (``made_with``); a
    file that cannot be read is :func:`damaged`. Such trials are listed by
    ``status``, and left out of ``best`` and ``merge``: their numbers are not this snnsim's."""
    from . import results
    from .results import file_attrs
    from .sweep.jobs import made_otherwise

    made_with = json.loads(s.user_attrs.get("made_with", "{}"))
    out = {}
    for n in numbers:
        path = trial_path(spec, n, root)
        try:
            attrs = file_attrs(path)
        except FileNotFoundError:
            made = made_with.get("numerics_version")
            if made is not None and made != results.NUMERICS_VERSION:
                out[n] = (f"numerics version {made} of the study (snnsim {made_with.get('snnsim')}; its file is gone) "
                          f"!= {results.NUMERICS_VERSION} of this snnsim")  # fmt: skip
            continue
        except Exception:  # noqa: BLE001, S112 - h5py raises many kinds for a damaged file: merge names it
            continue
        try:
            data = json.loads(attrs["config"]).get("data")
        except (KeyError, TypeError, ValueError):  # its data unknown: its numerics alone tell
            data, attrs = None, {k: v for k, v in attrs.items() if k != "synthetic_data_sha256"}
        if why := made_otherwise(attrs, data):  # other numerics or data: as a sweep's job
            out[n] = why
    return out


def _state(t: Any) -> str:
    """A trial's state as ``status`` names it: complete, running, pruned, failed or stopped."""
    names = {"COMPLETE": "complete", "RUNNING": "running", "PRUNED": "pruned", "FAIL": "failed", "WAITING": "running"}
    return "stopped" if t.user_attrs.get("stopped") else names[t.state.name]


def _unmerged(s: Any) -> list[dict[str, Any]]:
    """The trials of the loaded study ``s`` that left no result file to merge (pruned, failed,
    stopped, still running), asks past the budget left out: each one's number, state,
    parameters, the validation score of every epoch it reported and, for a failed one, its error."""
    out = []
    for t in s.get_trials(deepcopy=False) if s is not None else ():
        if t.user_attrs.get("over_budget") or _state(t) == "complete":
            continue
        record = {"number": t.number, "state": _state(t), "params": t.params,
                  "epoch_values": {str(k): v for k, v in sorted(t.intermediate_values.items())}}  # fmt: skip
        if "error" in t.user_attrs:
            record["error"] = t.user_attrs["error"]
        out.append(record)
    return out


def best_config(spec: Spec, root: str | os.PathLike | None = None, info: dict[str, Any] | None = None) -> RunConfig:
    """The best trial's full config; ``info``: the study's :func:`summary`, where the caller has it."""
    info = summary(spec, root) if info is None else info
    if "best" not in info:
        if info["stale"]:
            raise SnnsimError(f"{spec.name}: no completed trial of this snnsim's numerics and data; "
                              f"{_stale_text(info)}")  # fmt: skip
        raise SnnsimError(f"{spec.name}: no completed trial yet")
    return spec.config(info["best"]["params"])


def _stale_text(info: dict[str, Any]) -> str:
    """The stale trials of a :func:`summary`, and the first one's reason."""

    first = info["stale"][0]
    return f"stale {_trials(info['stale'])} (trial {first}: {info['reasons'][str(first)]})"


def _trials(numbers: list[int]) -> str:
    """``trial 3``, ``trials 0-1,4``."""
    from .sweep.jobs import array_spec

    return f"trial{'s' * (len(numbers) > 1)} {array_spec(numbers)}"


def to_toml(cfg: RunConfig, header: str) -> str:
    """A config as a TOML file of RunConfig fields (``python -m snnsim.run --config``)."""
    lines = [f"# {line}" for line in header.splitlines()]
    for key, value in cfg.to_dict().items():
        if value is None:
            continue
        kind = config_mod.metadata(key)["kind"]
        if kind == "duration" or (kind == "span" and value):
            text = f"{value * 1e3:.12g}ms"
            if parse_duration(text) != value:  # a searched duration: the exact seconds, so a rerun is exact
                text = f"{value!r}s"
            lines.append(f'{key} = "{text}"')
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def merge(spec: Spec, root: str | os.PathLike | None = None, allow_missing: bool = False) -> Path:
    """:func:`merge_with_summary`, the merged file's path alone."""
    return merge_with_summary(spec, root, allow_missing)[0]


def merge_with_summary(
    spec: Spec, root: str | os.PathLike | None = None, allow_missing: bool = False
) -> tuple[Path, dict]:
    """Every completed trial's result file, stacked along a dim ``trial`` with each searched
    setting a coordinate over it, into ``RESULTS/NAME.h5``. A completed trial whose file is gone
    or damaged, or that is stale (:func:`stale`: other numerics or data), is refused, or left out with
    ``allow_missing`` (listed in the attribute ``missing``, or ``stale`` and ``stale_reasons``). The
    trials that wrote no file (pruned, failed, stopped, running) are listed in the attribute
    ``unmerged_trials`` (JSON: number, state, params, ``epoch_values``, error). A study still
    being worked on is merged as it stands: the attributes ``budget``, ``running_trials`` (JSON)
    and ``trials_to_go`` (of the budget, not yet asked) say how far it is. Gives the merged file's
    path and the study's :func:`summary` it was merged from (made once: it reads every trial file)."""

    from . import results
    from .sweep.jobs import check_merged_kind, results_dir
    from .sweep.merge import carried_attrs, index_values, stack

    check_merged_kind(results_dir(root) / f"{spec.name}.h5", "tune")
    s = study(spec, root, create=False)  # read once: the trials to merge and those that wrote no file
    # a folder that cannot take the merged file, found before any trial is read: bad input, as for sweep merge
    results.check_writable(results_dir(root) / f"{spec.name}.h5", overwrite=True, flag="--results-dir")
    info = _summary_of(spec, s, root, check_data=False, progress=_checking(spec))  # a damaged file: refused below
    complete = sorted(info["complete"] + info["damaged"])
    missing = [n for n in complete if not trial_path(spec, n, root).exists()]
    if missing and not allow_missing:
        one = len(missing) == 1
        raise SnnsimError(f"{spec.name}: completed {_trials(missing)} {'has' if one else 'have'} no result file in "
                          f"{folder(spec, root)}; merge with --allow-missing to leave {'it' if one else 'them'} out")  # fmt: skip
    if info["stale"] and not allow_missing:
        one = len(info["stale"]) == 1
        raise SnnsimError(f"{spec.name}: {_stale_text(info)}: {'its' if one else 'their'} numbers are not this "
                          f"snnsim's; merge with --allow-missing to leave {'it' if one else 'them'} out")  # fmt: skip
    numbers = [n for n in complete if n not in missing]
    files = [trial_path(spec, n, root) for n in numbers]
    if not files:
        raise SnnsimError(f"{spec.name}: no completed trial to merge{''.join(f'; {x}' for x in _ended_lines(info))}")
    from tqdm.auto import tqdm

    pieces, loaded, searched = [], {}, []
    # a bar on a terminal, as sweep merge's: hundreds of files take minutes on a loaded machine; closed before
    # a refusal's line
    with tqdm(total=len(files), desc=f"{spec.name}: reading trial files", unit="file", disable=None,
              leave=False) as bar:  # fmt: skip
        for n, path in zip(numbers, files):
            bar.update()
            try:
                ds = results.load(path)
            except ResultError as exc:  # damaged (cut short, its data changed): left out as a gone file is
                if not allow_missing:
                    raise ResultError(f"{exc}; merge with --allow-missing to leave trial {n} out") from None
                missing.append(n)
                continue
            # a file put in a trial's place (a run's result, another trial's file) would be merged as that trial
            if not {"trial_number", "trial_params"} <= set(ds.attrs):
                raise ResultError(f"{path}: is not a trial file of {spec.name} (no trial_number, trial_params); "
                                  f"move it away, then merge with --allow-missing to leave the trial out")  # fmt: skip
            number = int(ds.attrs["trial_number"])
            if number != n:
                raise ResultError(f"{path}: holds trial {number}, not trial {n}; move it away, "
                                  "then merge with --allow-missing to leave the trial out")  # fmt: skip
            params = json.loads(ds.attrs["trial_params"])
            ds = ds.drop_vars([k for k in params if k in ds.variables])
            # a searched size (hidden ...) changes the length of a dim without coordinates: index it,
            # so that trials of different sizes align (NaN-padded) instead of refusing to concatenate
            ds = ds.assign_coords({d: np.arange(n) for d, n in ds.sizes.items() if d not in ds.indexes})
            attrs = loaded[number] = dict(ds.attrs)
            ds.attrs = {}
            searched.append(params)
            pieces.append(ds.assign(objective_value=attrs["objective_value"]))
    if not pieces:
        one = len(missing) == 1
        raise SnnsimError(f"{spec.name}: no completed trial to merge (the file{'' if one else 's'} of "
                          f"{_trials(missing)} {'is' if one else 'are'} gone or damaged)")  # fmt: skip
    missing.sort()
    if announcing() and sys.stderr is not None and sys.stderr.isatty():  # seconds for hundreds; a log gets no line
        print(f"{spec.name}: combining {plural(len(pieces), 'trial')} and writing {results_dir(root) / f'{spec.name}.h5'}",
              file=sys.stderr, flush=True)  # fmt: skip
    # as a sweep's merge: a variable or dim that some trials lack (a second layer) is NaN there
    merged = stack(pieces, {"trial": tuple(loaded)})
    # each searched setting a coordinate over the trials; a list (hidden = [8, 4]) as its text, "8,4"
    names = list(dict.fromkeys(k for params in searched for k in params))
    merged = merged.assign_coords({k: ("trial", index_values(tuple(_as_value(p.get(k)) for p in searched)))
                                   for k in names})  # fmt: skip
    for k in names:  # with their units (durations in s), as a sweep's merge gives its swept settings
        merged[k].attrs = {"long_name": f"searched setting {k}", **({"units": UNITS[k]} if k in UNITS else {})}
    for var in merged.variables.values():
        var.encoding = {}  # the trial files' int encodings cannot hold the NaN of the padding
    # the settings every trial shares (not what the search set per trial), and the versions of snnsim, the
    # libraries and Optuna that made the trials (NAME_by_trial where they differ); the merger's in merged_with
    merged.attrs = carried_attrs(loaded, [p.name for p in spec.search], by="trial",
                                 drop=("trial_number", "trial_params", "objective_value"))  # fmt: skip
    merged.attrs.update({"tune_spec": spec.text, "name": spec.name, "objective": spec.objective,
                         "complete": 1, "n_trials": len(pieces), "missing": json.dumps(missing),
                         "stale": json.dumps(info["stale"]), "stale_reasons": json.dumps(info["reasons"]),
                         "unmerged_trials": json.dumps(_unmerged(s)),
                         "merged_with": json.dumps(versions(), sort_keys=True)})  # fmt: skip
    # a study still being worked on: its running trials, and how many of the budget none has asked yet
    merged.attrs.update({"budget": spec.trials, "running_trials": json.dumps(info["running"]),
                         "trials_to_go": max(0, spec.trials - _budget_used(info))})  # fmt: skip
    out = results_dir(root) / f"{spec.name}.h5"
    _check_no_loss(spec, out, set(missing) | set(info["stale"]))
    results.write(merged, out, overwrite=True)
    return out, info


def _check_no_loss(spec: Spec, path: Path, holes: set[int]) -> None:
    """Refuse to replace the merged file ``path`` of this study with one that leaves out
    (``--allow-missing``) trials it holds: their files are gone, damaged or stale since, and their
    numbers would be lost (as :func:`snnsim.sweep.merge._check_no_loss` for a sweep's jobs)."""
    from . import results
    from .results import file_attrs

    if not holes or not path.is_file():
        return
    try:
        if file_attrs(path).get("name") != spec.name:
            return
        had = holes & {int(n) for n in results.load(path)["trial"].values}
    except Exception:  # noqa: BLE001 - a damaged merged file holds nothing to keep
        return
    if had:
        one = len(had) == 1
        raise ResultError(f"{path} holds {_trials(sorted(had))}, whose file{'' if one else 's'} {'is' if one else 'are'} "
                          f"gone, damaged or stale now; merging would lose {'its' if one else 'their'} numbers: move "
                          "that file away first")  # fmt: skip


def _as_value(value: Any) -> Any:
    """A trial parameter as read back from JSON, with lists as tuples (as a sweep's values)."""
    return tuple(value) if isinstance(value, list) else value


# -- command line ----------------------------------------------------------------------------------
def build_parser() -> OneLineParser:
    p, add = command_parser(PROG, description_of(__doc__), "spec", "SPEC", "experiments/NAME.toml or NAME")

    s = add("run", "run local workers until the budget of trials is used")
    s.add_argument(
        "-j",
        "--processes",
        type=_positive,
        default=1,
        help="worker processes at once, at most the spec's trials (default 1)",
    )
    add("worker", "one worker: trials until the budget is used ($SLURM_ARRAY_TASK_ID numbers it)")
    s = add("submit", "sbatch slurm/tune.sh as an array of workers")
    s.add_argument("--workers", type=_positive, default=2, help="array tasks, at most the trials to run (default 2)")
    s.add_argument("--dry-run", action="store_true", help="print the sbatch command, do not run it")
    s.add_argument("--sbatch-args", default="", metavar="'OPTIONS'", help="further sbatch options in one string")
    s = add("status", "best so far and trials by state")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s = add("best", "write the best trial's config as TOML")
    s.add_argument("--out", required=True, type=user_path, help="the TOML file to write")
    s.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    s = add("merge", "merge the completed trials' result files into RESULTS/NAME.h5")
    s.add_argument(
        "--allow-missing",
        action="store_true",
        help="leave out completed trials whose file is gone or damaged, or stale (other numerics or data)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)

    def body() -> int:
        from .sweep.jobs import check_results_dir

        check_results_dir(ns.results_dir)
        spec = load(ns.spec)
        if ns.command != "worker" and (bare := spec_bare_durations(spec)):  # a worker's log needs it not
            print(seconds_note(PROG, spec.path, bare), file=sys.stderr)
        return COMMANDS[ns.command](spec, ns)

    from .sweep.jobs import results_dir

    # a write error that names no file (Optuna's journal on a full disk): the results folder
    return guarded(PROG, body, out=results_dir(ns.results_dir))


def _log(message: str) -> None:
    log_line(PROG, message)


def check_runnable(spec: Spec, here: bool = True) -> None:
    """Before any trial: a BMI data file the trials read loads, and (``here``: the trials run on
    this machine) a trial on ``cuda`` has a CUDA device here; else every trial would fail."""
    from .datasets import bmi

    cfgs = [spec.config(point) for point in spec.corners()]
    if here and any(cfg.device == "cuda" for cfg in cfgs):
        import torch

        if not torch.cuda.is_available():
            raise SnnsimError(f"{spec.path}: the trials run on cuda, and this machine has no CUDA device; "
                              'submit them to a GPU partition, or set device = "auto"')  # fmt: skip
    for data in dict.fromkeys(cfg.data for cfg in cfgs if cfg.study == "bmi" and bmi.is_file_source(cfg.data)):
        try:
            bmi.load(data)
        except DataError as exc:  # named as the spec's key, not as the flag --data it has not
            table = "fixed" if "data" in spec.fixed else "search"
            raise DataError(f"{spec.path}: {table}.data: {str(exc).removeprefix('--data: ')}") from None


def cmd_worker(spec: Spec, ns: Any) -> int:
    text = os.environ.get("SLURM_ARRAY_TASK_ID", "0")
    if not (text.isascii() and text.isdigit() and int(text) <= MAX_SEED):
        raise SnnsimError(f"worker: $SLURM_ARRAY_TASK_ID={text!r} is not a worker number (0..{MAX_SEED})")
    check_runnable(spec)
    return work(spec, ns.results_dir, int(text), _log)


def cmd_run(spec: Spec, ns: Any) -> int:
    check_runnable(spec)
    # no more workers than trials: one past the budget would load torch only to find it used, and
    # -j 1000 started a thousand processes at once
    workers = min(ns.processes, spec.trials)
    if workers == 1:
        return work(spec, ns.results_dir, 0, _log)
    # what would refuse every worker (a changed data file, other numerics): one line here, not one per worker's log
    s = study(spec, ns.results_dir)  # read again for the bar below
    logs = folder(spec, ns.results_dir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    from tqdm.auto import tqdm

    from . import threads

    env = threads.share(dict(os.environ), workers)  # a SNNSIM_THREADS set is kept, as in sweep local
    procs: list[subprocess.Popen] = []
    try:
        with stop_on_signals(), contextlib.ExitStack() as opened:
            # every log first: a log that cannot be made (a full disk) must not leave the workers before it running
            files = [opened.enter_context(open(logs / f"worker-{k}.log", "a")) for k in range(workers)]
            for k, log in enumerate(files):
                cmd = [sys.executable, "-m", "snnsim.tune",
                       *(["--results-dir", ns.results_dir] if ns.results_dir else []), "worker", str(spec.path)]  # fmt: skip
                procs.append(subprocess.Popen(cmd, env={**env, "SLURM_ARRAY_TASK_ID": str(k)}, stdout=log,
                                              stderr=subprocess.STDOUT))  # fmt: skip
            # the trials done, on a terminal (the workers log to their files); cleared at the end or a stop
            bar = opened.enter_context(tqdm(total=spec.trials, initial=_done(spec, s), desc=spec.name, unit="trial",
                                            disable=None, leave=False))  # fmt: skip
            for p in procs:  # in steps of a second: a stop whose raise was lost (in a finalizer) stops too
                while p.poll() is None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        p.wait(timeout=1.0)
                    stop_if_signalled()
                    if not bar.disable:
                        with contextlib.suppress(OSError, ValueError):  # a journal unreadable now: next second
                            bar.update(_done(spec, s) - bar.n)
            stop_if_signalled()
            codes = [p.returncode for p in procs]
    except Interrupted as exc:  # pass the signal on: each worker marks its trial stopped and exits
        for p in procs:
            if p.poll() is None:
                p.send_signal(exc.signum)
        for p in procs:
            p.wait()
        print(f"{spec.name}: stopped by {exc.name}; the workers were stopped too (their trials are not counted; "
              "run again to go on)", file=sys.stderr)  # fmt: skip
        return 128 + exc.signum
    info = summary(spec, ns.results_dir, progress=_checking(spec))
    print(_status_line(info))
    for k, code in enumerate(codes):
        if code == EXIT_NOT_WRITTEN:
            print(f"{spec.name}: worker {k} {NOT_WRITTEN} and stopped (its log: {logs / f'worker-{k}.log'}); "
                  "that trial is not counted against the budget: run again once there is room", file=sys.stderr)  # fmt: skip
        if code < 0:  # killed by a signal it could not catch (SIGKILL: the out-of-memory killer, kill -9)
            print(f"{spec.name}: worker {k} was killed by {_signal_name(-code)} (its log: {logs / f'worker-{k}.log'}); "
                  "a trial it was running counts against the budget (running, until the next worker records it failed)", file=sys.stderr)  # fmt: skip
    # as a shell reports a killed process: 128 + N (Popen gives -N, which max() ranked below success)
    return max(128 - code if code < 0 else code for code in codes)


def _done(spec: Spec, s: Any) -> int:
    """The trials of the loaded study ``s`` that have ended (complete, pruned or failed): what
    ``run -j``'s bar counts, up to the budget."""
    ended = sum(1 for t in s.get_trials(deepcopy=False) if not t.user_attrs.get("over_budget")
                and _state(t) in ("complete", "pruned", "failed"))  # fmt: skip
    return min(ended, spec.trials)


def _signal_name(signum: int) -> str:
    import signal

    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def cmd_submit(spec: Spec, ns: Any) -> int:
    check_runnable(spec, here=False)
    extra = sbatch_options(ns.sbatch_args, "--workers sets it")
    workers = min(ns.workers, spec.trials)  # as run -j: a worker past the budget would find it used
    if journal_path(spec, ns.results_dir).exists():  # a study under way: only the trials it still needs
        info = summary(spec, ns.results_dir)
        used = _budget_used(info)
        if used >= spec.trials:
            print(f"{spec.name}: nothing to submit (the budget of {plural(spec.trials, 'trial')} is used)")
            return 0
        workers = min(workers, spec.trials - used)
    cmd = ["sbatch", "--parsable", f"--array=0-{workers - 1}", *extra, str(SCRIPT), str(spec.path.resolve())]
    env = dict(os.environ)
    if ns.results_dir is not None:
        env["SNNSIM_RESULTS"] = str(Path(ns.results_dir).resolve())
    if ns.dry_run:
        print(shell_line(cmd, env, "SNNSIM_RESULTS"))
        return 0
    if shutil.which("sbatch") is None:
        raise SnnsimError("submit: sbatch not found (no SLURM here?); use `tune run -j N` on this machine")
    Path("logs").mkdir(exist_ok=True)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SnnsimError(f"submit: sbatch failed: {proc.stderr.strip() or proc.stdout.strip()}")
    job = proc.stdout.strip().split(";")[0]
    try:  # for `status` until the study starts
        from .sweep.queue import record_workers

        record_workers(folder(spec, ns.results_dir), job)
    except OSError as exc:  # the workers are submitted: say what is lost, do not fail
        print(f"snnsim.tune: note: could not record array job {job} in {folder(spec, ns.results_dir)} "
              f"({getattr(exc, 'reason', None) or exc.strerror or exc}); `status` does not show its workers waiting",
              file=sys.stderr)  # fmt: skip
    print(f"{spec.name}: submitted {plural(workers, 'worker')} as SLURM array job {job}")
    return 0


def _status_line(info: dict[str, Any]) -> str:
    counts = "  ".join(f"{k} {len(info[k])}" for k in ("complete", "running", "pruned", "failed", "stopped"))
    best = info.get("best")
    text = f"{info['name']}: budget {info['budget']}; {counts}"
    if info["stale"]:  # complete, but of other numerics or data: left out of best and merge
        text += f"  stale {len(info['stale'])}"
        text += "".join(f"\n  trial {n} stale: {why}" for n, why in info["reasons"].items())
    if info["damaged"]:  # complete in the journal, its file unreadable: merge refuses it, or leaves it out
        text += f"  damaged {len(info['damaged'])}"
        text += "".join(f"\n  trial {n} damaged: {why} (merge --allow-missing leaves it out)"
                        for n, why in info["damage"].items())  # fmt: skip
    if info["gone"]:  # complete in the journal, its file removed since: merge refuses it, or leaves it out
        text += f"  gone {len(info['gone'])}"
        text += "".join(f"\n  trial {n} gone: {path} (merge --allow-missing leaves it out)"
                        for n, path in info["gone_files"].items())  # fmt: skip
    text += "".join(f"\n  {line}" for line in _ended_lines(info))
    if best:
        text += f"\n  best: trial {best['number']}, {info['objective']} = {best['value']:.4f} ({format_settings(best['params'])})"
    return text


def _ended_lines(info: dict[str, Any]) -> list[str]:
    """A line for each running trial of a :func:`summary` whose worker has ended."""
    import socket

    here = f"{socket.gethostname()} pid "  # another host's: its SLURM job has ended, and any worker asks SLURM
    return [f"trial {n} running: its worker ({who}) has ended (killed?); the next worker"
            f"{' on its host' if who.startswith(here) else ''} (tune run, tune worker) records it failed"
            for n, who in info["ended"].items()]  # fmt: skip


def _command(sub: str, spec: Spec, ns: Any) -> str:
    """``python -m snnsim.tune SUB SPEC`` to suggest, with this command's ``--results-dir`` (without
    it the suggested command would work in ``results/`` or ``$SNNSIM_RESULTS``)."""
    where = f" --results-dir {shlex.quote(str(ns.results_dir))}" if ns.results_dir is not None else ""
    return f"python -m snnsim.tune{where} {sub} {shlex.quote(str(spec.path))}"


def cmd_status(spec: Spec, ns: Any) -> int:
    info = summary(spec, ns.results_dir, progress=_checking(spec))
    if ns.json:
        print(json.dumps(info))
        return 0
    print(_status_line(info))
    journal = journal_path(spec, ns.results_dir)
    counted = any(info[k] for k in ("complete", "running", "pruned", "failed", "stopped", "stale", "damaged"))
    # budget left and no worker at work (stopped by scancel or Ctrl-C, or the spec's trials raised since
    # the study ended): the next run asks the rest. Workers waiting in SLURM will ask them themselves.
    from .sweep.queue import ended_workers, waiting_workers

    left = spec.trials - _budget_used(info)
    idle = all(str(n) in info["ended"] for n in info["running"])
    if counted and left > 0 and idle and not waiting_workers(journal.parent):
        uncounted = " and ".join(k for k in ("stopped", "stale") if info[k])
        why = f" ({uncounted} trials do not count)" if uncounted else ""
        print(f"  {left} of the budget of {plural(spec.trials, 'trial')} not run{why}: run them with: "
              f"{_command('run', spec, ns)} (or on SLURM: {_command('submit', spec, ns)})")  # fmt: skip
    if not counted and (stray := _trial_files(journal.parent)):  # its journal removed or emptied: run refuses
        print(f"  no study in {journal} (removed or emptied?), but the result files of trials ({_names(stray)}): "
              "tune run refuses to write over them")  # fmt: skip
    elif not journal.exists():  # all zeros: say why, and where it was looked for
        if waiting := waiting_workers(journal.parent):  # submitted: the first worker to start makes the study
            print(f"  not started: its workers wait in SLURM ({waiting})")
        elif ended := ended_workers(journal.parent):  # submitted, and each worker was refused (a bad setting)
            print(f"  not started: the workers of SLURM array job {', '.join(ended)} left the queue without "
                  f"starting it (cancelled, or refused: logs/snnsim-tune_{ended[-1]}_K.err where they were "
                  "submitted says why)")  # fmt: skip
        else:
            print(f"  not started: no study in {journal.parent}; start it with: {_command('run', spec, ns)}")
    return 0


def cmd_best(spec: Spec, ns: Any) -> int:
    from .atomic_write import write_bytes
    from .results import check_format_name, check_writable, is_hdf5

    everything = summary(spec, ns.results_dir, progress=_checking(spec))  # once: the study, its trials' files, data
    cfg = best_config(spec, ns.results_dir, everything)
    info = everything["best"]
    if everything["stale"]:
        _log(f"note: left out {_stale_text(everything)}")
    out = check_writable(ns.out, ns.overwrite, example="best.toml", inputs={"the tuning spec": spec.path})
    study_folder = folder(spec, ns.results_dir).resolve()
    if study_folder in out.resolve().parents:  # its trials' files and the study's journal
        raise SnnsimError(f"--out: {out} is in the study's folder {study_folder}; write elsewhere")
    if is_hdf5(out):  # a result file (the study's merge, a run's): --overwrite replaced its numbers with TOML
        raise ResultError(f"--out: {out} is a result file (HDF5); best writes a TOML config: give another name, "
                          "such as best.toml")  # fmt: skip
    check_format_name(out, "best writes a TOML config", (".toml",))  # snnsim.run --config refuses another
    header = (f"best trial {info['number']} of {spec.name} ({spec.path}): {spec.objective} = {info['value']:.4f}\n"
              f"{_made_by(trial_path(spec, info['number'], ns.results_dir))}"
              f"run it: python -m snnsim.run --config {out}")  # fmt: skip
    with stop_on_signals():  # scancel in the write: the previous file stays, no temporary left beside it
        write_bytes(out, to_toml(cfg, header).encode(), overwrite=ns.overwrite)
    print(f"{out}: trial {info['number']}, {spec.objective} = {info['value']:.4f}")
    return 0


def _made_by(trial: Path) -> str:
    """Lines of a best file's header on what made the trial, from its result file ``trial``: the
    file, the snnsim (numerics version), libraries and Optuna, and a BMI trial's data SHA-256
    (nothing where the file cannot be read)."""
    from .results import file_attrs

    try:
        attrs = file_attrs(trial)
        versions = json.loads(attrs["versions"])
    except (OSError, KeyError, ValueError):
        return ""
    made = ", ".join(f"{name} {versions[name]}" for name in ("torch", "snntorch", "norse", "numpy") if name in versions)
    lines = [f"its result file: {trial.resolve()}",
             f"made with snnsim {versions.get('snnsim')} (numerics version {attrs.get('numerics_version')}), {made}"
             + (f", optuna {attrs['optuna_version']}" if "optuna_version" in attrs else "")]  # fmt: skip
    lines += [f"{key} = {attrs[key]}" for key in ("data_file_sha256", "synthetic_data_sha256") if key in attrs]
    return "".join(f"{line}\n" for line in lines)


def cmd_merge(spec: Spec, ns: Any) -> int:
    from .atomic_write import clean_and_report
    from .results import file_attrs
    from .sweep.jobs import results_dir

    clean_and_report(results_dir(ns.results_dir) / f"{spec.name}.h5", PROG, "merges")
    # scancel in the middle: no temporary left beside the merged file; the summary it was merged from: read once
    with stop_on_signals():
        path, info = merge_with_summary(spec, ns.results_dir, ns.allow_missing)
    attrs = file_attrs(path)
    print(f"{spec.name}: merged {plural(int(attrs['n_trials']), 'trial')} into {path}")
    running, to_go = json.loads(attrs["running_trials"]), int(attrs["trials_to_go"])
    running = [n for n in running if str(n) not in info["ended"]]  # of workers that have ended: below
    if running or to_go:
        listed = f"{_trials(running)} running" if running else ""
        print(f"  partial: the study is not finished ({listed}"
              f"{', ' if running and to_go else ''}{f'{to_go} of the budget of {spec.trials} not started' if to_go else ''}); "
              "merge again once its workers are done")  # fmt: skip
    for line in _ended_lines(info):
        print(f"  {line}")
    return 0


COMMANDS = {"run": cmd_run, "worker": cmd_worker, "submit": cmd_submit, "status": cmd_status, "best": cmd_best,
            "merge": cmd_merge}  # fmt: skip

if __name__ == "__main__":
    sys.exit(process(main))
