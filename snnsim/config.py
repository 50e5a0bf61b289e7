"""The one configuration record of a run: a frozen dataclass validated on construction.

Every field is a name or a number (never a callable), so a config pickles, serialises to JSON
into the result file, and maps one-to-one onto CLI flags (``tau`` <-> ``--tau``) and onto the
keys of experiment files. Durations are seconds; frequencies hertz.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import ConfigError

TASKS = ("ipd", "bmi")
PHASE_MODES = ("per-sample", "per-dataset")
EVAL_MODES = ("readout", "sum")
INIT_MODES = ("notebook", "fan-in")
DEVICES = ("cpu", "cuda", "auto")
READOUT_ALIASES = {"oc": "mean"}
BMI_MODELS = ("snn", "ann", "linear")
BMI_TARGETS = ("theta", "dtheta", "ddtheta", "torque")
MI_ORDERS = ("neuron-major", "bin-major")


@dataclass(frozen=True)
class RunConfig:
    """Settings of one run (one or more repeats of one training).

    Shared:
        task: ``ipd`` (sound localisation, classification) or ``bmi`` (arm-state regression).
        backend: neuron library: ``snntorch``, ``norse`` or ``fused`` (see :mod:`snnsim.backends`).
        readout: ``mean`` (alias ``oc``), ``max`` or ``fr`` (see :mod:`snnsim.readouts`).
        tau: membrane time constant of every layer, s. dt: simulation step, s.
        hidden: hidden LIF neurons. threshold: spike threshold. surrogate_slope: beta of the
            sigmoid surrogate gradient.
        epochs, batch_size, lr: Adam training. repeats: independent trainings; repeat ``r``
            uses seed ``seed + r``. batch_repeats: train the repeats as one batched model
            (same numbers as one by one, faster).
        init: ``notebook`` (U(-b, b), b = 1/sqrt(fan-out), seed quirk 2) or ``fan-in``
            (b = 1/sqrt(fan-in)).
        device: ``cpu``, ``cuda`` or ``auto``.
    IPD:
        phase: ``per-dataset`` (one phase offset per generated data set: the notebook, seed
            quirk 1) or ``per-sample`` (one offset per sample: corrected).
        eval: ``readout`` (score with the training readout) or ``sum`` (argmax of the sum over
            time of the output: the notebook, seed quirk 4).
        n_train_batches, n_test_batches: data set sizes in batches.
        tone_hz, rate_max_hz, duration, anf_per_ear, envelope_power, n_classes: stimulus.
    BMI:
        data: path of a ``bmi_dataset.pkl`` (None: the bundled synthetic data set).
        target: ``theta``, ``dtheta``, ``ddtheta`` or ``torque``. dims: output columns
            (0 shoulder, 1 elbow). rotation, n_train_folds: fold selection. model: ``snn``,
            ``ann`` or ``linear``. mi_order: MI column order. patience: early-stopping epochs.
    """

    task: str = "ipd"
    backend: str = "snntorch"
    readout: str = "mean"
    tau: float = 0.02
    dt: float = 1e-3
    hidden: int = 30
    threshold: float = 1.0
    surrogate_slope: float = 5.0
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.01
    repeats: int = 1
    batch_repeats: bool = True
    seed: int = 0
    init: str = "notebook"
    device: str = "cpu"
    # IPD
    phase: str = "per-sample"
    eval: str = "readout"
    n_train_batches: int = 64
    n_test_batches: int = 32
    tone_hz: float = 20.0
    rate_max_hz: float = 600.0
    duration: float = 0.1
    anf_per_ear: int = 100
    envelope_power: float = 2.0
    n_classes: int = 12
    # BMI
    data: str | None = None
    target: str = "dtheta"
    dims: tuple[int, ...] = (0,)
    rotation: int = 5
    n_train_folds: int = 18
    model: str = "snn"
    mi_order: str = "neuron-major"
    patience: int = 10

    def __post_init__(self) -> None:
        from .backends import BACKENDS
        from .readouts import READOUTS

        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        set_("readout", READOUT_ALIASES.get(self.readout, self.readout))
        if isinstance(self.dims, (list, int)):
            set_("dims", tuple(self.dims) if isinstance(self.dims, list) else (self.dims,))
        _choice("task", self.task, TASKS)
        _choice("backend", self.backend, tuple(BACKENDS))
        _choice("readout", self.readout, tuple(READOUTS) + tuple(READOUT_ALIASES))
        _choice("phase", self.phase, PHASE_MODES)
        _choice("eval", self.eval, EVAL_MODES)
        _choice("init", self.init, INIT_MODES)
        _choice("device", self.device, DEVICES)
        for name in ("tau", "dt", "lr", "threshold", "surrogate_slope", "tone_hz", "rate_max_hz",
                     "duration", "envelope_power"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ConfigError(name, f"must be a positive number, got {value!r}")
        for name in ("hidden", "epochs", "batch_size", "repeats", "n_train_batches", "n_test_batches",
                     "anf_per_ear", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(name, f"must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError("seed", f"must be a non-negative integer, got {self.seed!r}")
        if not isinstance(self.n_classes, int) or self.n_classes < 2:
            raise ConfigError("n_classes", f"must be an integer >= 2, got {self.n_classes!r}")
        if self.duration < self.dt * 2:
            raise ConfigError("duration", f"must hold at least two steps of dt={self.dt} s, got {self.duration} s")
        if self.task == "bmi":
            _choice("model", self.model, BMI_MODELS)
            _choice("target", self.target, BMI_TARGETS)
            _choice("mi_order", self.mi_order, MI_ORDERS)
            if not self.dims or any(isinstance(d, bool) or d not in (0, 1) for d in self.dims):
                raise ConfigError("dim", f"output columns must be 0 (shoulder) and/or 1 (elbow), got {self.dims!r}")
            if isinstance(self.rotation, bool) or not isinstance(self.rotation, int) or not 0 <= self.rotation < 20:
                raise ConfigError("rotation", f"must be an integer in 0..19, got {self.rotation!r}")
            if isinstance(self.n_train_folds, bool) or not isinstance(self.n_train_folds, int) or not 1 <= self.n_train_folds <= 18:
                raise ConfigError("n_train_folds", f"must be an integer in 1..18 (20 folds: 18 training at most, "
                                  f"one validation, one test), got {self.n_train_folds!r}")
        if self.rate_max_hz * self.dt > 1:
            raise ConfigError("rate_max_hz", f"rate_max_hz * dt must be <= 1 (one spike per step), got {self.rate_max_hz * self.dt}")

    # -- derived -----------------------------------------------------------------------------
    @property
    def steps(self) -> int:
        """Number of simulation steps of one IPD stimulus."""
        return int(round(self.duration / self.dt))

    @property
    def alpha(self) -> float:
        """Membrane decay per step, exp(-dt/tau)."""
        return math.exp(-self.dt / self.tau)

    # -- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["dims"] = list(self.dims)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown setting; known settings: {', '.join(sorted(known))}")
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        return cls.from_dict(json.loads(text))

    def replace(self, **changes: Any) -> "RunConfig":
        return dataclasses.replace(self, **changes)


def _choice(name: str, value: Any, accepted: tuple[str, ...]) -> None:
    if value not in accepted:
        raise ConfigError(name, f"unknown value {value!r}; accepted: {', '.join(accepted)}")


def field_names() -> list[str]:
    return [f.name for f in fields(RunConfig)]
