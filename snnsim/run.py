"""Command line: ``python -m snnsim.run --readout fr --tau 2ms``: one run, its table, its result file.

Every flag is a :class:`~snnsim.config.RunConfig` field (``--batch-size`` <-> ``batch_size``);
the config checks the values, so a bad one gets the config's one-line message naming the flag,
exit code 2 and nothing written.

``--out FILE`` is checked before training: an existing file is not replaced unless
``--overwrite`` is given, and a folder, an unwritable place or a nearly full file system are
refused at once. If the file cannot be written after training (the disk filled up meanwhile,
or another run wrote the same path first), the result is not silently lost: the message says
where it could be saved, and with ``--fallback-dir DIR`` it is saved there (exit code 5 either
way). SIGTERM, SIGUSR1 and Ctrl-C stop the run without leaving a partial or temporary file.
The checkpoints beside ``--out`` belong to one live run (:class:`CheckpointLock`): another run
of the same ``--out`` started meanwhile trains without them.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import glob
import json
import os
import re
import shutil
import socket
import sys
import tempfile
from contextlib import contextmanager, nullcontext
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

from . import config, recipes
from .atomic_write import (
    PathTaken,
    WriteFailed,
    clean_and_report,
    folder_blocked,
    leftovers,
    leftovers_by_target,
    no_empty_folders,
)
from .cli import (
    Interrupted,
    OneLineParser,
    after_writing,
    description_of,
    guarded,
    process,
    quiet,
    seconds_note,
    signals_held,
    stop_on_signals,
    user_path,
)
from .config import RunConfig
from .errors import EXIT_NOT_WRITTEN, ConfigError, DataError, ResultError, SnnsimError

if TYPE_CHECKING:
    from collections.abc import Iterator

    import xarray as xr

#: Free space a result file's file system must have before training starts.
MIN_FREE_BYTES = 1 << 20

GROUPS = {("ipd", "bmi"): "run", ("ipd",): "ipd", ("bmi",): "bmi"}


def build_parser() -> OneLineParser:
    p = OneLineParser(
        prog="snnsim.run",
        description=description_of(__doc__),
        epilog=recipe_epilog(),
        argument_default=argparse.SUPPRESS,
    )
    groups = {title: p.add_argument_group(title) for title in GROUPS.values()}
    for f in fields(RunConfig):
        meta = f.metadata
        group = groups[GROUPS[meta["studies"]]]
        kwargs = {"dest": f.name, "help": config.describe(f.name)}
        if meta["kind"] == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif meta["kind"] == "dims":
            kwargs.update(action="append", metavar="D")
        else:
            kwargs["metavar"] = f.name.upper()
        if meta["kind"] == "path":
            kwargs["type"] = user_path
        group.add_argument(config.flag(f.name), **kwargs)
    groups["run"].add_argument("--task", dest="task", help=argparse.SUPPRESS)  # the old name of --study
    groups["run"].add_argument("--config", action=_OneConfig, type=user_path,
                               help="a TOML file of settings (RunConfig field names), or a run's result file (.h5) to "
                                    "run again with its settings; flags win over it")  # fmt: skip
    o = p.add_argument_group("output")
    o.add_argument("--out", type=user_path, help="result file (.h5); default: none written")
    o.add_argument("--overwrite", action="store_true", help="replace --out if it exists (default: refuse)")
    o.add_argument(
        "--fallback-dir",
        type=user_path,
        help="if --out cannot be written after training, save the result in this folder",
    )
    o.add_argument("--quiet", action="store_true",
                   help="no progress bar and no notes (recipe defaults, settings without effect, durations without "
                        "a unit); warnings and errors still print")  # fmt: skip
    o.add_argument(
        "--tensorboard",
        metavar="DIR",
        type=user_path,
        help="write per-epoch scalars and weight histograms for TensorBoard",
    )
    o.add_argument("--keep-checkpoints", action="store_true",
                   help="keep the per-epoch checkpoint beside --out after the result is written")  # fmt: skip
    return p


class _OneConfig(argparse.Action):
    """``--config FILE``, given once: a second file would silently replace the first; an empty
    name (an unset ``$CONFIG``) would run the defaults without a word."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # noqa: ANN001
        if not values:
            parser.error("--config: empty; give a TOML file of settings or a run's result file (.h5)")
        if (first := getattr(namespace, self.dest, None)) is not None:
            parser.error(f"--config: give one config file (got {first} and {values}); "
                         "put the settings of both in one file, or give the other as flags")  # fmt: skip
        setattr(namespace, self.dest, values)


OUTPUT_FLAGS = ("out", "overwrite", "fallback_dir", "quiet", "config", "tensorboard", "keep_checkpoints")


def config_file(path: str | os.PathLike, data_given: bool = False) -> dict:
    """The settings of a config file: a TOML table of RunConfig field names (durations as "2ms"),
    or a run's result file (an HDF5 file, or any ``.h5`` file: :func:`result_settings`;
    ``data_given``: ``--data`` is a flag)."""
    import tomllib

    from .results import open_input, resolve

    path = resolve(path)  # results/NAME, a sweep's folder: its merged results/NAME.h5, as plots, predict, export
    if _is_result_file(path):
        return result_settings(path, data_given)
    if path.is_dir():  # named as export and plots name one, not by open()'s "Is a directory"
        raise ConfigError("config", f"{path} is a folder, not a config file; give a TOML file of settings or a run's "
                                    "result file (.h5)")  # fmt: skip
    try:
        with open_input(path, "r", encoding="utf-8-sig", flag="--config", prog="snnsim.run") as fh:  # a FIFO: once
            doc = tomllib.loads(fh.read())  # a byte-order mark some editors write is no setting
    except FileNotFoundError:
        # the docs' `--config experiments/ipd_best.toml`, given from another folder than snnsim's
        shipped = Path(__file__).resolve().parents[1] / "experiments" / Path(path).name
        if not shipped.suffix:  # a NAME, as sweep and tune take one: "ipd_best"
            shipped = shipped.with_name(shipped.name + ".toml")
        there = f" ({shipped} is snnsim's: give its full path)" if shipped.is_file() else ""
        raise ConfigError("config", f"no file {path}{there}") from None
    except OSError as exc:
        raise ConfigError("config", f"cannot read {path} ({exc.strerror})") from None
    except UnicodeDecodeError:
        from .results import file_kind

        kind = file_kind(path)
        kind = None if kind in ("a text file", "a TOML file", "a pipe") else kind  # UTF-8 as far as it looked
        raise ConfigError("config", f"{path} is " + (f"{kind}, not" if kind else "not UTF-8 text, so not")
                          + " a TOML file of settings: --config takes a TOML file of RunConfig fields (durations "
                          'as "2ms") or a run\'s result file (.h5)') from None  # fmt: skip
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", f"{path} is not valid TOML ({exc})") from None
    if not doc:  # a script that wrote nothing, or a file cut to 0 bytes: no run's settings
        raise ConfigError("config", f"{path} holds no settings (it is empty, or comments only): give settings such "
                          'as tau = "2ms", or leave --config out to run the defaults')  # fmt: skip
    settings: dict = {}
    for key, value in doc.items():
        if config.LEGACY_KEYS.get(key, key) not in config.field_names():
            raise ConfigError("config", f"{path}: {_not_a_setting(key, value)}")
        try:
            name = config.current_name(key, settings)
        except ConfigError as exc:
            raise ConfigError("config", f"{path}: {exc.message}") from None
        if isinstance(value, list) and config.metadata(name)["kind"] not in ("dims", "sizes"):  # an experiment's
            raise ConfigError("config", f"{path}: {key}: {json.dumps(value, default=str)} is a list of values; a run "
                              "takes one: give one, or sweep the list in an experiment file's [sweep] (python -m "
                              "snnsim.sweep)")  # fmt: skip
        try:
            config.coerce(name, value)  # a bad value is named with its file, not as a flag never given
        except ConfigError as exc:
            raise ConfigError("config", f"{path}: {key}: {config.as_keys(exc.message, [value])}") from None
        settings[name] = value
    return settings


def check_config_data(ns: argparse.Namespace, cfg: RunConfig) -> None:
    """The BMI data file that a TOML ``--config`` file names (``data = ...``, not ``--data``),
    refused where missing or a folder naming the file and its key; a relative path is read from
    the current folder, not the config file's, and the message says so."""
    from .datasets import bmi as bmi_data
    from .errors import DataError

    path = getattr(ns, "config", None)
    if path is None or rerun_file(ns) is not None or "data" in vars(ns) or cfg.study != "bmi" \
            or not bmi_data.is_file_source(cfg.data):  # fmt: skip
        return
    try:
        bmi_data.check_file(cfg.data)
    except DataError as exc:
        why = str(exc).removeprefix("--data: ")
        if not Path(cfg.data).is_absolute():
            beside = Path(path).parent / cfg.data
            there = f"; {beside} is there: give its full path" if beside.exists() else ""
            why += f" (a relative path is read from the current folder, {Path.cwd()}, not the config file's{there})"
        raise ConfigError("config", f"{path}: data: {why}") from None


def _in_config_file(ns: argparse.Namespace, settings: dict, exc: DataError) -> DataError:
    """A data refusal of the run that names a setting by its flag (``--data: ...``, ``--target:
    ...``) where a TOML ``--config`` file gave it, not a flag: named with the file and its keys, as
    :func:`check_config_data` names a missing data file; else ``exc`` as it is."""
    path, flag = getattr(ns, "config", None), re.match(r"(--[a-z][a-z-]*): ", str(exc))
    name = config.as_keys(flag.group(1)) if flag else None
    if path is None or rerun_file(ns) is not None or name not in settings or name in vars(ns):
        return exc
    return DataError(f"--config: {path}: {name}: {config.as_keys(str(exc)[flag.end() :], settings.values())}")


def _is_result_file(path: Path) -> bool:
    """Whether ``--config`` names a result file: a ``.h5`` file (an empty or cut one is no TOML
    file of no settings), or any regular file that starts as HDF5 files do (a pipe, ``--config
    <(...)`` or ``/dev/stdin``, is read once, as TOML: a look at its first bytes would take them)."""
    from .results import is_hdf5

    if path.suffix.lower() == ".h5":
        return True
    return path.is_file() and is_hdf5(path)  # one not read: config_file names what is wrong


def rerun_file(ns: argparse.Namespace) -> Path | None:
    """The result file whose run ``--config`` runs again (None: no ``--config``, or a TOML file)."""
    from .results import resolve

    path = getattr(ns, "config", None)
    path = None if path is None else resolve(path)
    return path if path is not None and _is_result_file(path) else None


def named(ns: argparse.Namespace, settings: dict) -> dict:
    """Those of a run's ``settings`` that its user named: flags and a TOML file's keys, not the
    settings of a result file run again (:func:`result_settings`), which its notes leave alone."""
    if rerun_file(ns) is None:
        return settings
    return {k: v for k, v in settings.items() if k in vars(ns) and k not in OUTPUT_FLAGS}


def result_settings(path: Path, data_given: bool = False) -> dict:
    """The settings of the run that wrote result file ``path`` (a run's or a sweep job's): its
    study and model, and each setting where it differs from their recipe, so that ``--config
    FILE.h5`` runs it again with the same numbers (with snnsim's same numerics version).

    Raises:
        ConfigError: not a run's result file (a merged experiment, a predictions file), or
            (unless ``data_given``) its BMI data file has changed since: its SHA-256 is not the
            one the file records.
    """
    from . import results

    try:
        ds = results.load(path)
        run = results.config_of(ds, path)
    except results.ForeignFile:  # its hint names merges, which --config refuses
        raise ConfigError("config", f"{path} is not an snnsim result file (an HDF5 file without snnsim's attributes): "
                          "give a run's result file (python -m snnsim.run, or a sweep job's) or a TOML file of "
                          "settings") from None  # fmt: skip
    except ResultError as exc:
        raise ConfigError("config", str(exc)) from None
    if "model" in ds.attrs:  # python -m snnsim.predict's file: its model's config, not a run of its own
        raise ConfigError("config", f"{path} is a predictions file (python -m snnsim.predict) of the model in "
                          f"{ds.attrs['model']}, not a run's result file; give {ds.attrs['model']}")  # fmt: skip
    if (made_from := ds.attrs.get("data_file_sha256")) and not data_given:
        from .results import data_changed, file_sha256

        data = Path(run.data)
        try:
            now = file_sha256(data)
        except OSError:  # a data file that is gone: the run names it (a relative path is named here)
            now = None
        if not data.is_absolute() and now != made_from:  # read from this folder, which may not be the run's
            found = "which does not exist" if now is None else f"with SHA-256 {now[:12]}..."
            raise ConfigError("config", f"{path} was made from {run.data} with SHA-256 {made_from[:12]}..., a path "
                              f"relative to the folder that run started in; from this folder it is {data.resolve()}, "
                              f"{found}: run from that folder, or give --data FILE")  # fmt: skip
        if changed := data_changed(run.data, made_from, f"give --data {run.data} to run on it as it is now"):
            raise ConfigError("config", f"{path}: {changed}")
    if (made_from := ds.attrs.get("synthetic_data_sha256")) and not data_given:
        from .datasets.bmi import synthetic_sha256

        if (now := synthetic_sha256(run.data)) != made_from:
            source = run.data or "synthetic (the standard set)"
            raise ConfigError("config", f"{path} was made from {source} with SHA-256 {made_from[:12]}...; this "
                              f"snnsim's generator or its cache ($SNNSIM_CACHE) gives {now[:12]}... now; "
                              f"give --data {run.data or 'synthetic'} to run on it as it is now")  # fmt: skip
    full = run.to_dict()
    settings = {"study": run.study} | ({"model": run.model} if run.model != RunConfig.model else {})  # the recipe's
    for _ in full:  # each pass adds the settings where the recipe's config still differs
        now = _config_of(settings).to_dict()
        if not (differ := {k: v for k, v in full.items() if now[k] != v}):
            return settings
        settings.update(differ)
    return full


def _not_a_setting(key: str, value: object = None) -> str:
    """Why ``key`` (of ``value``) of a run's config file is refused."""
    if key in OUTPUT_FLAGS:
        return f"{key!r} is a command-line option, not a setting: give --{key.replace('_', '-')} on the command line"
    if key in ("fixed", "sweep", "search", "name"):
        return (f"{key!r} is not a setting: a run's config file is one table of settings; [fixed], [sweep] and "
                "[search] belong in experiment and tuning files (python -m snnsim.sweep, python -m snnsim.tune)")  # fmt: skip
    if isinstance(value, dict):  # [training] over settings that go at the top
        known = [k for k in value if config.LEGACY_KEYS.get(k, k) in config.field_names()]
        return (f"[{key}] is a table; a run's config file is one table of settings, without [sections]"
                + (f": give {', '.join(known)} at the top of the file" if known else ""))  # fmt: skip
    if (hint := config.setting_hint(key, set(config.field_names()))).startswith("; did you mean"):
        return f"{key!r} is not a setting{hint}"
    return f"{key!r} is not a setting; known settings: {', '.join(config.field_names())}"


def config_from_args(ns: argparse.Namespace) -> RunConfig:
    """The config of parsed flags over a ``--config`` file over the study's recipe
    (:mod:`snnsim.recipes`), checked by :class:`RunConfig`."""
    return _config_of(_settings(ns))


def _config_of(settings: dict) -> RunConfig:
    return RunConfig.from_dict({**recipe_of(settings), **settings})


def _checked_config(ns: argparse.Namespace, settings: dict) -> RunConfig:
    """:func:`_config_of`, where a check across settings that fails on a key of a TOML ``--config``
    file (not a flag) names the file and its key, as a bad value there is named
    (:func:`config_file`), not a flag the user never gave."""
    try:
        return _config_of(settings)
    except ConfigError as exc:
        path, flags = getattr(ns, "config", None), set(vars(ns)) | ({"study"} if "task" in vars(ns) else set())
        if path is None or exc.field in flags or exc.field not in settings:
            raise
        if rerun_file(ns) is None:
            raise ConfigError(
                "config", f"{path}: {exc.field}: {config.as_keys(exc.message, settings.values())}"
            ) from None
        given = _refused_flags(ns, settings, flags - set(OUTPUT_FLAGS))
        raise ConfigError("config", f"{path} is a run with {exc.field} = {_shown_setting(exc.field, settings[exc.field])}"
                          f", which does not go with {given}: {exc.message}") from None  # fmt: skip


def _refused_flags(ns: argparse.Namespace, settings: dict, flags: set) -> str:
    """The flags of ``flags`` (the settings given as flags) that a result file's run, run again
    with ``settings``, refuses: each one without which (the file's own value) the config is valid;
    all of them where no one alone is; as typed (``--neuron notebook``)."""
    own = config_file(ns.config, "data" in flags)

    def valid_without(name: str) -> bool:
        try:
            _config_of({k: v for k, v in settings.items() if k != name} | ({name: own[name]} if name in own else {}))
        except ConfigError:
            return False
        return True

    named = [k for k in flags if k in settings and valid_without(k)] or [k for k in flags if k in settings]
    typed = {"study": ns.task} if "task" in vars(ns) else {}  # --task is --study by its old name
    order = list(vars(ns))  # as given
    shown = []
    for name in sorted(named, key=lambda k: order.index("task" if k in typed else k)):
        value = typed.get(name, getattr(ns, name, None))
        if isinstance(value, bool):
            shown.append(config.flag(name) if value else f"--no-{config.flag(name)[2:]}")
        else:
            shown.append(f"{'--task' if name in typed else config.flag(name)} {_typed(value)}")
    return " ".join(shown)


def _typed(value: object) -> str:
    """A flag's value as typed: ``["0", "1"]`` of ``--dim 0 --dim 1`` as ``0,1``."""
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def _shown_setting(name: str, value: object) -> str:
    """A result file's setting for a message: durations with a unit (``5ms``), lists as ``64,64``."""
    if config.metadata(name)["kind"] in ("duration", "span") and isinstance(value, (int, float)) and value:
        from .units import format_duration

        return format_duration(value)
    return _typed(value)


def _settings(ns: argparse.Namespace) -> dict:
    """The settings a run's ``--config`` file and flags name (flags win)."""
    flags = {k: v for k, v in vars(ns).items() if k not in OUTPUT_FLAGS}
    settings = config_file(ns.config, "data" in flags) if getattr(ns, "config", None) else {}
    if "task" in flags:
        if "study" in flags:
            raise ConfigError("study", "give --study or --task (its old name), not both")
        flags["study"] = flags.pop("task")
    if "study" in flags and "study" in settings and flags["study"] != settings["study"] and rerun_file(ns):
        raise ConfigError("study", f"{ns.config} is a run of the {settings['study']} study, which --config runs "
                                   f"again; it cannot run as the {flags['study']} study")  # fmt: skip
    settings.update(flags)
    return settings


def recipe_of(settings: dict) -> dict:
    """The recipe defaults (:func:`snnsim.recipes.defaults`) of the study and model ``settings`` name."""
    study, model = settings.get("study", settings.get("task", "ipd")), settings.get("model", "snn")
    if not (isinstance(study, str) and isinstance(model, str)):
        return {}  # RunConfig names the bad value
    return recipes.defaults(study, model, settings)


def recipe_epilog() -> str:
    """The help text's note on the defaults that each recipe (:data:`snnsim.recipes.RECIPES`) replaces."""
    lines = []
    for (study, model), recipe in recipes.RECIPES.items():
        lines.append(
            f"--study {study} (--model {model}) starts from its recipe, not the defaults above: {_flags(recipe)} "
            f"({recipes.RECIPE_FILES[study, model]}, docs/recipes.md); --config and flags win over it."
        )
    return "\n".join(lines)


def recipe_note(ns: argparse.Namespace) -> str | None:
    """A one-line note naming the recipe defaults that a run's flags and config file left in place."""
    return _note_of(_settings(ns))


def _note_of(settings: dict) -> str | None:
    used = {k: v for k, v in recipe_of(settings).items() if k not in settings}
    if not used:
        return None
    study = settings.get("study", settings.get("task"))
    return f"snnsim.run: {study} recipe defaults (docs/recipes.md; flags override): {_flags(used)}"


def _flags(settings: dict) -> str:
    """Settings as the flags that give them: ``{"batch_size": 256}`` -> ``--batch-size 256``."""
    return " ".join(f"{config.flag(k)} {v}" for k, v in settings.items())


#: What each non-spiking BMI decoder is, for :func:`unread_note`.
BASELINES = {"ann": "a non-spiking network", "linear": "ridge regression, fitted in closed form"}


def in_file(name: str, ns: argparse.Namespace) -> bool:
    """Whether setting ``name`` is one of a TOML ``--config`` file's (or its default there), not a
    flag: a note names it as the file's key (``n_val_batches``, ``model = "linear"``)."""
    return getattr(ns, "config", None) is not None and rerun_file(ns) is None and name not in vars(ns)


def given_as(names: list[str], ns: argparse.Namespace) -> str:
    """Settings ``names`` as their user gave them: flags (``--patience``), then the keys of the
    TOML ``--config`` file that no flag gave (``patience, hidden in q.toml``)."""
    path = getattr(ns, "config", None)
    if path is None or rerun_file(ns) is not None:
        return ", ".join(map(config.flag, names))
    keys = [name for name in names if name not in vars(ns)]
    flags = [config.flag(name) for name in names if name in vars(ns)]
    return ", ".join(flags + ([f"{', '.join(keys)} in {path}"] if keys else []))


def unread_note(cfg: RunConfig, settings: dict, ns: argparse.Namespace) -> str | None:
    """A one-line note naming the settings a run gave that its BMI decoder does not read."""
    names = cfg.unread(settings)
    if not names:
        return None
    listed = given_as(names, ns)
    effect = "it has" if len(names) == 1 else "they have"
    model = f'model = "{cfg.model}"' if in_file("model", ns) else f"--model {cfg.model}"
    return f"snnsim.run: note: {model} ({BASELINES[cfg.model]}) does not read {listed}; {effect} no effect"


def unit_note(settings: dict, ns: argparse.Namespace) -> str | None:
    """A one-line note naming the durations that a TOML ``--config`` file gives as bare numbers,
    which are seconds (``tau = 20`` is 20 s), where flags do not replace them."""
    path = getattr(ns, "config", None)
    if path is None or rerun_file(ns) is not None:
        return None
    bare = config.bare_durations(settings)
    return seconds_note("snnsim.run", path, bare) if bare else None


def rerun_note(ns: argparse.Namespace, cfg: RunConfig) -> str | None:
    """A one-line note where ``--config`` is a result file made by an snnsim of other numerics
    (:data:`snnsim.results.NUMERICS_VERSION`), or computed with other libraries, CPU, variables,
    kernel loops or on a GPU where ``cfg`` runs on the CPU (:func:`snnsim.results.computed_otherwise`),
    in all its epochs or (a resumed run's ``mixed_hardware``) some: its run, again, gives other numbers."""
    path = rerun_file(ns)
    if path is None:
        return None
    import torch

    from . import results
    from .results import file_attrs

    on_gpu = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())

    attrs = file_attrs(path)  # its attributes only: result_settings loaded and checked the file already
    made = results.numerics_version(attrs)
    if made == results.NUMERICS_VERSION:
        device = "cuda" if on_gpu else "cpu"
        otherwise = results.computed_otherwise(attrs, device)
        try:  # a resumed run's epochs that another process computed otherwise (its attributes: the last one's)
            parts = json.loads(attrs.get("mixed_hardware") or "[]")
        except ValueError:
            parts = []
        for part in parts if isinstance(parts, list) else []:
            if isinstance(part, dict):
                first, _, last = str(part.get("epochs", "?")).partition("-")
                epochs = f"epoch {first}" if last in ("", first) else f"epochs {first}-{last}"
                where = f" in {epochs} of repeat(s) {part.get('repeats', '?')}"
                otherwise += [w + where for w in results.computed_otherwise({**attrs, **part}, device)
                              if w not in otherwise]  # fmt: skip
        if not otherwise:
            return None
        return (f"snnsim.run: note: {path} was computed with {', '.join(otherwise)}: its run gives other numbers "
                "here (in the last bits, or more)")  # fmt: skip
    return (f"snnsim.run: note: {path} was made by an snnsim of numerics version {made}, this one has "
            f"{results.NUMERICS_VERSION}: its run gives other numbers here (in the last bits, or more)")  # fmt: skip


def synthetic_note(cfg: RunConfig, ns: argparse.Namespace) -> str | None:
    """A one-line note where a BMI run's ``--data`` names a built-in synthetic set (``synthetic``,
    ``synthetic:NAME[:SEED]``) and a file of that name is in the current folder: the set is read,
    not the file (a refused name points to its file the same way: bmi_synthetic.parse_source).
    Given by a TOML ``--config`` file, named as its key there."""
    from .datasets import bmi as bmi_data

    if cfg.study != "bmi" or cfg.data is None or bmi_data.is_file_source(cfg.data) or not os.path.isfile(cfg.data):
        return None
    which = "the" if cfg.data == "synthetic" else "a"
    if in_file("data", ns):
        return (f'snnsim.run: note: data = "{cfg.data}" in {ns.config} is {which} built-in synthetic set; a file of '
                f'that name is here: give "./{cfg.data}" to read it')  # fmt: skip
    return (f"snnsim.run: note: --data {cfg.data} is {which} built-in synthetic set; a file of that name is here: "
            f"give ./{cfg.data} to read it")  # fmt: skip


def idle_note(cfg: RunConfig, settings: dict, ns: argparse.Namespace) -> str | None:
    """A one-line note naming the flags a run gave that have no effect with its other settings."""
    idle = []
    if getattr(ns, "out", None) is None:
        idle += [f"{flag} (no --out)" for flag, given in (("--overwrite", getattr(ns, "overwrite", False)),
                 ("--fallback-dir", getattr(ns, "fallback_dir", None)),
                 ("--keep-checkpoints", getattr(ns, "keep_checkpoints", False))) if given]  # fmt: skip
    if cfg.study == "ipd" and "patience" in settings and cfg.n_val_batches == 0:
        val = "n_val_batches" if in_file("patience", ns) else "--n-val-batches"  # named as patience is
        idle.append(f"{given_as(['patience'], ns)} (no {val}: early stopping needs validation data)")
    if cfg.study == "bmi" and cfg.model == "linear" and getattr(ns, "tensorboard", None):
        idle.append("--tensorboard (ridge regression has no epochs)")
    if not idle:
        return None
    return f"snnsim.run: note: {', '.join(idle)} {'has' if len(idle) == 1 else 'have'} no effect"


class NotSaved(SnnsimError):
    """The result could not be written at ``--out`` (the message says what happened to it);
    ``saved_to``: where it was saved instead, if anywhere."""

    exit_code = EXIT_NOT_WRITTEN

    def __init__(self, message: str, saved_to: Path | None = None) -> None:
        super().__init__(message)
        self.saved_to = saved_to


def prepare_out(out: Path, overwrite: bool, fallback_dir: Path | None, inputs: dict | None = None) -> None:
    """Check before training that ``out`` can be written and is none of the ``inputs`` (see
    :func:`results.check_writable`); remove temporary files that killed runs left beside it."""
    from . import results

    clean_and_report(out, "snnsim.run", "runs", leftovers(out) + checkpoint_leftovers(out))
    try:
        results.check_writable(out, overwrite, inputs=inputs, hdf5="a result file")
    except ResultError as exc:  # the checkpoint a run killed after writing ``out`` left beside it: named
        if overwrite or not out.is_file() or not (older := checkpoints_older_than(out)):
            raise
        raise ResultError(f"{exc}; the checkpoint {older[0].name} beside it is older than it (left by a run killed "
                          "after writing it, or by --keep-checkpoints): delete it if you do not need it") from None  # fmt: skip
    if fallback_dir is not None and not (fallback_dir.is_dir() and os.access(fallback_dir, os.W_OK)):
        raise ResultError(f"--fallback-dir: {fallback_dir} is not a writable folder")
    free = shutil.disk_usage(out.parent if str(out.parent) else ".").free
    if free < MIN_FREE_BYTES:
        full = f"--out: only {free / 1024:.0f} kB free on the file system of {out}"
        spare = None if fallback_dir is None else shutil.disk_usage(fallback_dir).free
        if spare is None or spare < MIN_FREE_BYTES:
            raise NotSaved(full + ("" if spare is None else f", and {spare / 1024:.0f} kB under --fallback-dir "
                                   f"{fallback_dir}") + "; nothing trained")  # fmt: skip
        # the fallback is there for this: train, and save there if --out is still full then
        print(f"snnsim.run: note: {full}; training anyway: the result goes to --fallback-dir {fallback_dir} if "
              "--out is still full then", file=sys.stderr)  # fmt: skip


def check_tensorboard(given: str | os.PathLike, out: Path | None) -> None:
    """Before training: ``--tensorboard`` names a folder (made if missing) that is not the result
    file, and where this process may write."""
    if not os.fspath(given):
        raise ResultError("--tensorboard: empty; give a folder for the event files")
    folder = Path(given)
    why, where, made_in = folder_blocked(folder)
    if why == "file":
        raise ResultError(f"--tensorboard: {folder} is a file; give a folder")
    if out is not None and folder.resolve() == out.resolve():
        raise ResultError(f"--tensorboard: {folder} is the --out file; give another folder")
    if why == "link":
        raise ResultError(
            f"--tensorboard: {where} is a link to {os.readlink(where)}, which is not there; give a folder"
        )
    if why == "below":
        raise ResultError(f"--tensorboard: {folder} is below the file {made_in}; give a folder")
    if not os.access(made_in, os.W_OK):
        raise ResultError(f"--tensorboard: cannot write in {made_in} (read-only or no permission); give another folder")


def _spare_folder(near: Path, size: int) -> tuple[Path, int] | None:
    """A writable folder on another file system than ``near`` with room for ``size`` bytes."""
    here = os.stat(near).st_dev
    best = None
    for folder in (Path(tempfile.gettempdir()), Path.home(), Path.cwd()):
        try:
            if os.stat(folder).st_dev == here or not os.access(folder, os.W_OK):
                continue
            free = shutil.disk_usage(folder).free
        except OSError:
            continue
        if free > size and (best is None or free > best[1]):
            best = (folder, free)
    return best


def save(ds: xr.Dataset, out: Path, overwrite: bool, fallback_dir: Path | None) -> Path:
    """Write the result; where ``out`` fails, say where it could go, or save it there when asked."""
    from . import results

    try:
        return results.write(ds, out, overwrite=overwrite)
    except PathTaken:
        # another run wrote this path while this one trained: keep this result beside it
        other = out.with_name(f"{out.stem}.{os.getpid()}{out.suffix}")
        why = f"--out: {out} was written by another run while this one trained"
        _write_instead(ds, other, why)
        raise NotSaved(f"{why}; this result is in {other}", other) from None
    except WriteFailed as exc:
        if fallback_dir is not None:
            other = fallback_dir / out.name
            if other.exists():
                other = other.with_name(f"{out.stem}.{os.getpid()}{out.suffix}")
            _write_instead(ds, other, f"--out: {exc}", "--fallback-dir: ")
            raise NotSaved(f"--out: {exc}; the result was saved to {other} (--fallback-dir)", other) from None
        size = len(results.encode(ds))
        spare = _spare_folder(out.parent if str(out.parent) else Path("."), size)
        hint = (
            f"; it could be saved in {spare[0]} ({spare[1] / 1e9:.1f} GB free): rerun with --fallback-dir {spare[0]}"
            if spare
            else ""
        )
        raise NotSaved(f"--out: {exc}; the trained result ({size / 1e6:.2f} MB) is lost{hint}") from None


def _write_instead(ds: xr.Dataset, other: Path, why: str, flag: str = "") -> None:
    """Write the result to ``other``, where ``--out`` failed (``why``); if that fails too, say
    both and that the result is lost (:class:`NotSaved`)."""
    from . import results

    try:
        results.write(ds, other)
    except WriteFailed as exc:
        size = len(results.encode(ds))
        raise NotSaved(f"{why}; {flag}{exc}; the trained result ({size / 1e6:.2f} MB) is lost") from None


#: Mini-batches above which a library backend prints a hint toward the fused backend.
HINT_BATCHES = 100


def speed_hint(cfg: RunConfig) -> str | None:
    """A one-line note when a run on a library backend will take long (None otherwise); none
    where the run uses a model-space option that the fused backend does not carry."""
    from .backends import MODEL_SPACE

    if cfg.backend == "fused" or (cfg.study == "bmi" and cfg.model != "snn"):
        return None
    if any("fused" not in carriers and getattr(cfg, name) != getattr(RunConfig, name)
           for name, carriers in MODEL_SPACE.items()):  # fmt: skip
        return None
    batches = cfg.epochs * cfg.repeats * (cfg.n_train_batches if cfg.study == "ipd" else 100)
    if batches < HINT_BATCHES:
        return None
    return (f"snnsim.run: note: the {cfg.backend} backend steps through time in Python; --backend fused runs the "
            "same equations about 10x faster (benchmarks/README.md)")  # fmt: skip


def checkpoint_path(out: Path, members: list) -> Path:
    """The checkpoint of the batched model of repeats ``members`` beside the result file ``out``."""
    repeats = [r for _, r in members]
    return out.with_name(f".{out.name}.r{min(repeats)}-{max(repeats)}.ckpt")


class CheckpointLock:
    """The checkpoints beside the result file ``out`` belong to one live run: the one that holds a
    ``flock`` on ``.OUT.ckpt.lock`` (released by the kernel when it exits or dies; the file says
    which host and process hold it, and its holder removes it as it lets go). A run of the same
    ``--out`` that does not get it trains without checkpoints: it neither resumes, writes nor
    removes one of the holder's. The lock is held on a file open for reading only (a file open
    for writing would keep its file system from being remounted read-only)."""

    def __init__(self, out: Path) -> None:
        self.path = out.with_name(f".{out.name}.ckpt.lock")
        self._fd: int | None = None

    def acquire(self) -> str | None:
        """Take the lock without waiting: None when taken, else why not (who holds it)."""
        mode = os.O_RDONLY  # no file open for writing while it trains
        while True:
            try:
                fd = os.open(self.path, mode | os.O_CREAT, 0o666)
            except OSError as exc:
                return f"{self.path} cannot be made ({exc.strerror or exc})"
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
                os.close(fd)
                return f"{self.path} is held by {holder or 'another process'}, another run of this --out"
            except OSError as exc:
                os.close(fd)
                if exc.errno == errno.EBADF and mode == os.O_RDONLY:  # NFS: an exclusive lock needs one open to write
                    mode = os.O_RDWR
                    continue
                return f"{self.path} cannot be locked ({exc.strerror or exc})"
            try:  # the file this lock is on is still the one at the path (not removed by a holder letting go)?
                here, there = os.fstat(fd), os.stat(self.path)
                current = (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)
            except OSError:
                current = False
            if current:
                break
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        with contextlib.suppress(OSError):  # who holds it, for the message of a run that does not get it
            holder = os.open(self.path, os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(holder, f"{socket.gethostname()} pid {os.getpid()}".encode())
            finally:
                os.close(holder)
        self._fd = fd
        return None

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def checkpoints_of(out: Path) -> list[Path]:
    """Every checkpoint (:func:`checkpoint_path`) beside the result file ``out``."""
    return sorted(out.parent.glob(f".{glob.escape(out.name)}.r*-*.ckpt"))


def checkpoints_older_than(out: Path) -> list[Path]:
    """The checkpoints (or sidecars left alone) beside the result file ``out`` last written
    before it: a run writes its result after its last checkpoint, so these were left by a run
    killed after writing ``out`` (or kept by ``--keep-checkpoints``), not held by a run now."""
    try:
        written = out.stat().st_mtime_ns
    except OSError:
        return []
    found = []
    for path in checkpoints_of(out) + sorted(out.parent.glob(f".{glob.escape(out.name)}.r*-*.ckpt.json")):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime_ns <= written and Path(str(path).removesuffix(".json")) not in found:
                found.append(path)
    return found


def checkpoint_leftovers(out: Path) -> list[Path]:
    """Temporary files of the checkpoints (and their sidecars) beside the result file ``out``,
    left by runs killed while they wrote one (:func:`checkpoint_path`)."""
    folder = out.parent if str(out.parent) else Path(".")
    try:
        names = os.listdir(folder)
    except OSError:  # no such folder yet, or not one: check_writable says so
        return []
    checkpoint = re.compile(rf"\.{re.escape(out.name)}\.r\d+-\d+\.ckpt(\.json)?")
    found = {tmp for target, paths in leftovers_by_target(folder, names).items() if checkpoint.fullmatch(target)
             for tmp in paths}  # fmt: skip
    return sorted(found)


def _kept_checkpoint(path: Path, trained: int | None = None) -> str:
    """What the checkpoint ``path`` left by a run whose result was not saved lets a rerun skip:
    its sidecar says which epoch it holds, and where that is before ``trained`` (the last epoch
    the run trained, its last where ``--patience`` ended it; None: all its epochs), that later ones
    could not be written and the epochs a rerun trains again."""
    try:
        info = json.loads(Path(f"{path}.json").read_text())
        epoch, epochs = int(info["epoch"]), int(info["epochs"])
    except (OSError, ValueError, KeyError, TypeError, OverflowError):  # OverflowError: Infinity
        return f"its checkpoint stays ({path}): the same command resumes from it"
    if epoch >= epochs:
        return f"the checkpoint of its last epoch stays ({path}): the same command resumes from it and only " \
               "writes the result"  # fmt: skip
    last = epochs if trained is None else min(trained, epochs)
    if last <= epoch:  # stopped after this checkpoint's epoch, before the next was done
        return f"the checkpoint of epoch {epoch} of {epochs} stays ({path}): the same command resumes from it"
    again = f"epoch {last}" if last == epoch + 1 else f"epochs {epoch + 1}-{last}"
    return f"the checkpoint of epoch {epoch} of {epochs} stays ({path}; later ones could not be written): " \
           f"the same command resumes from it and trains {again} again"  # fmt: skip


def _kept_checkpoints(paths: list[Path], trained: dict[Path, int | None], others: int, repeats: int,
                      settled: bool = True) -> str:  # fmt: skip
    """What the checkpoints ``paths`` of several batched models, left by a run whose result was
    not saved, let a rerun skip, as :func:`_kept_checkpoint` says it of one: the epoch each holds
    (its sidecar), the epochs a rerun trains again where one holds an epoch before the last its
    model trained (``trained``: checkpoint -> that epoch, None: all), and the ``others`` of the
    ``repeats`` without one, which train from epoch 1; not ``settled``: other checkpoints may hold
    models that a rerun resumes (a rerun does more than write the result)."""
    names = ", ".join(map(str, paths))
    tail = f" and trains the other {others} of {repeats} repeats from epoch 1" if others else ""
    try:
        held = [json.loads(Path(f"{path}.json").read_text()) for path in paths]
        held = [(int(info["epoch"]), int(info["epochs"])) for info in held]
    except (OSError, ValueError, KeyError, TypeError, OverflowError):  # OverflowError: Infinity
        held = []
    if not held or len({epochs for _, epochs in held}) > 1:
        return f"their checkpoints stay ({names}): the same command resumes from them{tail}"
    epochs = held[0][1]
    if all(epoch >= epochs for epoch, _ in held) and not others and settled:
        return f"the checkpoints of their last epoch stay ({names}): the same command resumes from them and only " \
               "writes the result"  # fmt: skip
    again = []
    for path, (epoch, _) in zip(paths, held, strict=True):
        last = epochs if trained[path] is None else min(trained[path], epochs)
        if last > epoch:  # later ones could not be written
            # DOTALL: an --out name may hold a newline
            first, final = re.fullmatch(r".*\.r(\d+)-(\d+)\.ckpt", path.name, re.DOTALL).groups()
            which = f"repeat {first}" if first == final else f"repeats {first}-{final}"
            again.append(f"epoch {last} of {which}" if last == epoch + 1 else f"epochs {epoch + 1}-{last} of {which}")
    held_epochs = [str(epoch) for epoch, _ in held]
    line = (f"their checkpoints of epochs {', '.join(held_epochs[:-1])} and {held_epochs[-1]} of {epochs} stay "
            f"({names}{'; later ones could not be written' if again else ''}): the same command resumes from them")  # fmt: skip
    return line + (f" and trains {' and '.join(again)} again" if again else "") + tail


def _identity(path: Path) -> tuple[int, int] | None:
    """Which file ``path`` is (device, inode), or None: a file put in place by an atomic write is a new one."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def execute(
    cfg: RunConfig,
    out: str | os.PathLike | None = None,
    progress: bool = True,
    overwrite: bool = False,
    fallback_dir: str | os.PathLike | None = None,
    tensorboard: str | os.PathLike | None = None,
    keep_checkpoints: bool = False,
    config_file: str | os.PathLike | None = None,
) -> xr.Dataset:
    """Run one config and write its result file when ``out`` is given (see the module docstring).
    With ``out``, a checkpoint beside it after every epoch lets the same command resume.
    ``out`` may be neither the data file nor ``config_file`` (the file the config was read from)."""
    from . import results
    from .datasets import bmi as bmi_data

    out = None if out is None else results.file_name(out)
    if fallback_dir is not None and not os.fspath(fallback_dir):  # Path("") would be the current folder
        raise ResultError("--fallback-dir: empty; give a folder for the result if --out cannot be written")
    fallback = None if fallback_dir is None else Path(fallback_dir)
    if cfg.study == "bmi" and bmi_data.is_file_source(cfg.data):  # before torch loads, and --out's folder is made
        bmi_data.check_file(cfg.data)
    if cfg.device != "cpu":  # no CUDA here: refused before --out's folder is made (this loads torch)
        from .device import resolve_device

        resolve_device(cfg.device)
    # refused by --out's checks or after them (a --data file refused as it loads), or stopped before anything is
    # written there: no folder that they made left
    with nullcontext() if out is None else no_empty_folders(out):
        return _checked(cfg, out, progress, overwrite, fallback, tensorboard, keep_checkpoints, config_file)


def _checked(cfg: RunConfig, out: Path | None, progress: bool, overwrite: bool, fallback: Path | None,
             tensorboard: str | os.PathLike | None, keep_checkpoints: bool,
             config_file: str | os.PathLike | None) -> xr.Dataset:  # fmt: skip
    """:func:`execute` from the checks of ``out`` on."""
    if out is not None:
        from .datasets.bmi_synthetic import source_file

        data = source_file(cfg.data) if cfg.study == "bmi" else getattr(cfg, "data", None)  # a synthetic set's cache
        prepare_out(out, overwrite, fallback, {"the --data file": data, "the --config file": config_file})
    if cfg.study == "bmi" and cfg.model == "linear":  # no epochs: nothing to log (idle_note says so)
        tensorboard = None
    if tensorboard is not None:
        check_tensorboard(tensorboard, out)
    if out is not None:
        from . import runner

        runner.check_memory([cfg], runner.plan([cfg]))  # the run's memory (torch loads)
    lock = None if out is None else CheckpointLock(out)
    if lock is not None and (busy := lock.acquire()):  # another live run's checkpoints: read, write, remove none
        print(f"snnsim.run: {busy}; this run trains without checkpoints (it resumes, writes and removes none)",
              file=sys.stderr)  # fmt: skip
        lock = None
    try:
        ds = _execute(cfg, out, progress, overwrite, fallback, tensorboard, keep_checkpoints, lock is not None)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    if lock is not None:
        from . import results

        with after_writing(results.file_name(out)), signals_held():  # let go in one step: a stop comes after it
            lock.release()
    return ds


def _say(message: str) -> None:
    """One line on stderr while a run trains: on a line of its own, not after the progress bar's text."""
    from tqdm import tqdm

    tqdm.write(f"snnsim.run: {message}", file=sys.stderr)


def _execute(cfg: RunConfig, out: Path | None, progress: bool, overwrite: bool, fallback: Path | None,
             tensorboard: str | os.PathLike | None, keep_checkpoints: bool, checkpoints: bool) -> xr.Dataset:  # fmt: skip
    """:func:`execute` once ``out`` is checked; ``checkpoints``: this run holds the checkpoints of
    ``out`` (:class:`CheckpointLock`), to write, resume and remove."""
    from . import runner
    from .training import remove_checkpoint

    if progress and (hint := speed_hint(cfg)):
        print(hint, file=sys.stderr)
    monitors: list = []  # closed when the run ends, however it ends
    trained: dict[Path, int] = {}  # a checkpoint -> the last epoch its batched model trained (a stop's line)

    def hooks(cfgs: list, members: list) -> list:
        made = []
        if checkpoints:
            path = checkpoint_path(out, members)
            made.append(lambda record: trained.__setitem__(path, record.epoch))
        if tensorboard is not None:
            from .monitor import TensorBoardHook, provenance_text

            labels = [f"repeat-{r}" for _, r in members]
            texts = [provenance_text(cfgs[i], cfgs[i].seed + r) for i, r in members]
            monitors.append(TensorBoardHook(tensorboard, labels, log=_say, provenance=texts))
            made.append(monitors[-1])
        return made

    written: list[Path] = []  # the result file, once written
    own: list[Path] = []  # this run's checkpoints, one per batched model (others: of killed runs of other settings)
    mine: set[Path] = set()  # those that hold this run's state (till then: maybe a killed run's of other settings)

    def checkpoint_of(cfgs: list, members: list) -> Path:
        own.append(checkpoint_path(out, members))
        return own[-1]

    def kept_line(kept: list[Path], ended: bool) -> str | None:
        """What this run's checkpoints ``kept`` and those an earlier run of this command left of the
        models it had not reached let the same command skip, the run ``ended`` (its result not
        saved) or stopped: the repeats of a batched model without one train from epoch 1; None
        where there is none."""
        from .sweep.jobs import sidecar_refusal

        paths, maybe, others = [], [], 0  # paths: those a rerun resumes, in the runner's order
        for members in runner.plan([cfg]):
            path = checkpoint_path(out, members)
            if path in kept:
                paths.append(path)
                continue
            # an earlier run's, of a model this one had not reached (or stopped before it trained): its sidecar says
            if checkpoints and path not in trained and path.exists():
                try:
                    info = json.loads(Path(f"{path}.json").read_text())
                    int(info["epoch"]), int(info["epochs"])
                    why = sidecar_refusal(info, cfg.to_json())
                except (OSError, ValueError, KeyError, TypeError, AttributeError, OverflowError):  # none, or damaged
                    maybe.append(path)
                    continue
                if why is None:
                    paths.append(path)
                    continue
            others += len(members)
        if not paths and not maybe:
            return None
        tail = f" and trains the other {others} of {cfg.repeats} repeats from epoch 1" if others else ""
        others_line = ""
        if maybe:  # a rerun reads them to tell
            names = ", ".join(map(str, maybe))
            also = f"{'they hold' if len(maybe) > 1 else 'it holds'} its models (else their repeats train from epoch 1)"
            if not paths:
                return f"{'checkpoints stay' if len(maybe) > 1 else 'a checkpoint stays'} ({names}): the same " \
                       f"command resumes from {'them' if len(maybe) > 1 else 'it'} where {also}{tail}"  # fmt: skip
            others_line = f"; it resumes from {names} too where {also}"
        # this run's: the epoch it trained last (--patience may have ended it before --epochs); an earlier run's: none
        last = {path: trained.get(path, None if ended else 0) if path in kept else 0 for path in paths}
        if len(paths) == 1 and not others and not maybe:
            return _kept_checkpoint(paths[0], last[paths[0]])
        if len(paths) > 1:
            return _kept_checkpoints(paths, last, others, cfg.repeats, settled=not maybe) + others_line
        return f"its checkpoint stays ({paths[0]}): the same command resumes from it{tail}{others_line}"

    def write(i: int, ds: xr.Dataset) -> None:  # before the checkpoints are removed
        if out is None:
            return
        before = _identity(out)
        try:
            written.append(save(ds, out, overwrite, fallback))
        except Interrupted:  # in place already when the signal came in the write's last step (its folder's sync)?
            if _identity(out) not in (None, before):
                written.append(out)
            raise
        except NotSaved as exc:  # saved elsewhere: its checkpoints are done with; lost: they stay
            kept = checkpoints_of(out)
            if exc.saved_to is not None:
                stuck = []
                for path in kept if checkpoints and not keep_checkpoints else []:
                    try:
                        remove_checkpoint(path)
                    except OSError:  # the folder that refused the result may refuse this too
                        stuck.append(path)
                if stuck:
                    raise NotSaved(f"{exc}; its checkpoint {stuck[0]} could not be removed", exc.saved_to) from None
                raise
            # those a rerun of this command resumes from (and those of an earlier run beside them)
            if not (line := kept_line([path for path in kept if path in mine], ended=True)):
                raise
            raise NotSaved(f"{exc}; {line}") from None
        # the result is written: the checkpoints of a killed run with other --repeats or batching are of no more use
        stale = [path for path in checkpoints_of(out) if path not in own] if checkpoints and not keep_checkpoints \
            else []  # fmt: skip
        for path in stale:
            with contextlib.suppress(OSError):
                remove_checkpoint(path)
        if stale:
            print(f"snnsim.run: removed the checkpoint(s) of an earlier run of {out} with other settings: "
                  f"{', '.join(path.name for path in stale)}", file=sys.stderr)  # fmt: skip

    try:
        try:
            with quiet(not progress):  # --quiet: no line on the kernels' first build either
                return runner.run_configs(
                    [cfg], progress, on_result=write,
                    hooks=hooks, checkpoints=checkpoint_of if checkpoints else None,
                    keep_checkpoints=keep_checkpoints, log=_say,
                    owned=mine.add, notes=progress,  # --quiet: no bar, no notes
                )[0]  # fmt: skip
        finally:
            for monitor in monitors:
                monitor.close()
    except Interrupted as exc:  # after the result was written: say so, and finish removing its checkpoints
        if written:
            exc.written = written[0]
            for path in own if not keep_checkpoints else []:
                with contextlib.suppress(OSError):
                    remove_checkpoint(path)
        elif out is not None:  # what a rerun resumes: this run's checkpoints, and an earlier run's of the others
            exc.kept = kept_line([path for path in dict.fromkeys(own) if path in mine and path.exists()], ended=False)
        raise


@contextmanager
def _named_where_given(ns: argparse.Namespace, settings: dict) -> Iterator[None]:
    """A setting refused where the run starts (``device = "cuda"`` without CUDA) named where it
    was given: a TOML ``--config`` file's key, or the run of a result file, not a flag the user
    never gave."""
    try:
        yield
    except ConfigError as exc:
        if getattr(ns, "config", None) is None or exc.field in vars(ns) or exc.field not in settings:
            raise
        if rerun_file(ns) is not None:
            raise ConfigError("config", f"{ns.config} is a run with {exc.field} = "
                              f"{_shown_setting(exc.field, settings[exc.field])}: {exc.message} (give "
                              f"{config.flag(exc.field)} to run it otherwise)") from None  # fmt: skip
        raise ConfigError(
            "config", f"{ns.config}: {exc.field}: {config.as_keys(exc.message, settings.values())}"
        ) from None


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)

    def body() -> int:
        settings = _settings(ns)  # the config file is read once (torch and xarray not yet: a refusal is quick)
        cfg = _checked_config(ns, settings)
        check_config_data(ns, cfg)
        if cfg.device != "cpu":  # no CUDA here: refused before the notes of a run that will not run
            from .device import resolve_device

            with _named_where_given(ns, settings):
                resolve_device(cfg.device)
        if (note := _note_of(settings)) and not getattr(ns, "quiet", False):
            print(note, file=sys.stderr)
        given = named(ns, settings)
        notes = (unread_note(cfg, given, ns), idle_note(cfg, given, ns), unit_note(settings, ns), rerun_note(ns, cfg),
                 synthetic_note(cfg, ns))  # fmt: skip
        for note in notes:
            if note and not getattr(ns, "quiet", False):
                print(note, file=sys.stderr)
        out = getattr(ns, "out", None)
        try:
            with _named_where_given(ns, settings):
                ds = execute(cfg, out, not getattr(ns, "quiet", False), getattr(ns, "overwrite", False),
                             getattr(ns, "fallback_dir", None), getattr(ns, "tensorboard", None),
                             getattr(ns, "keep_checkpoints", False), getattr(ns, "config", None))  # fmt: skip
        except DataError as exc:  # the data file (or target) of a TOML file's key, refused as the run loads it
            raise _in_config_file(ns, settings, exc) from None
        from . import results
        from .runner import summarise, unresponsive_note

        with after_writing(None if out is None else results.file_name(out)):
            print(summarise(ds))
            if out is not None:
                print(f"result file: {out}")
            if note := unresponsive_note(ds):
                print(f"snnsim.run: {note}", file=sys.stderr)
        return 0

    # around the error handling too: a second signal cannot break a stop; --quiet: no line on a set generated
    with stop_on_signals(), quiet(getattr(ns, "quiet", False)):
        return guarded("snnsim.run", body)


def command() -> int:
    """The ``snnsim`` command and ``python -m snnsim.run``: :func:`main` as a process
    (:func:`snnsim.cli.process`)."""
    return process(main)


if __name__ == "__main__":
    sys.exit(command())
