"""The one configuration record of a run, and the one place where settings are checked.

:class:`RunConfig` is a frozen dataclass. Each field carries its own metadata (:func:`setting`):
its kind, accepted names or range, the studies that use it and the help line of its CLI flag.
From that metadata come the validation of every value (:meth:`RunConfig.__post_init__`), the
conversion of text from the CLI and experiment files (:func:`coerce`), the flags of
``python -m snnsim.run`` and the messages, which always name the flag (``--tau: ...``).

Every field is a name or a number (never a callable), so a config pickles, serialises to JSON
into the result file, and maps one-to-one onto CLI flags (``tau`` <-> ``--tau``) and onto the
keys of experiment files. Durations are seconds inside; text such as ``"2ms"`` is accepted at
the edges. Importing this module does not import torch.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from .backends import ALPHA_MAX, MODEL_SPACE
from .backends import BACKENDS as _BACKENDS
from .datasets.bmi import N_BINS, N_NEURONS
from .errors import ConfigError
from .readouts import LEARNED_READOUTS, READOUT_ALIASES, READOUTS
from .studies import STUDIES as _STUDIES
from .units import parse_duration

STUDIES = tuple(_STUDIES)
BACKENDS = tuple(_BACKENDS)
READOUT_NAMES = tuple(READOUTS) + tuple(READOUT_ALIASES)
PHASE_MODES = ("per-sample", "per-dataset")
EVAL_MODES = ("readout", "sum")
INIT_MODES = ("notebook", "fan-in")
DEVICES = ("cpu", "cuda", "auto")
BMI_MODELS = ("snn", "ann", "linear")
#: The BMI decoders that a setting of the spiking network, or of a trained network, is read by.
SPIKING = ("snn",)
TRAINED = ("snn", "ann")
BMI_TARGETS = ("theta", "dtheta", "ddtheta", "torque")
MI_ORDERS = ("neuron-major", "bin-major")
BMI_ENCODINGS = ("bins", "window")
NEURONS = ("notebook", "standard")
LR_SCHEDULES = ("constant", "cosine")
DELAY_MODES = ("none", "fixed", "learned")
MAX_SEED = 2**32 - 1
#: Most simulation steps of one IPD stimulus.
MAX_STEPS = 1_000_000
#: Steps per sample before an input can reach the output of a network of the notebook neuron.
NOTEBOOK_REACH = 4
#: Steps of a BMI sample of ``--encoding bins``: its bins and ``snnsim.encoders.bmi.PAD`` (3)
#: trailing steps (a test checks; that module imports torch, which this one does not).
BMI_STEPS = N_BINS + 3
#: The largest float32: an amount (weight decay, clipping norm ...) that torch multiplies float32 tensors by.
FLOAT32_MAX = 3.4028234663852886e38
#: The smallest normal float32 (smaller numbers are subnormal, which the compiled kernels flush to 0).
FLOAT32_TINY = 1.1754943508222875e-38
#: Keys of older result and experiment files, read as today's names.
LEGACY_KEYS = {"task": "study"}


def current_name(key: str, seen: Any) -> str:
    """Setting ``key`` by its current name (:data:`LEGACY_KEYS`: ``task`` is ``study``). Raises
    :class:`ConfigError` when ``seen`` (the names of a table read so far) already holds it: the
    table gives one setting under both its names."""
    new = LEGACY_KEYS.get(key, key)
    if new in seen:  # TOML refuses a key given twice, so the other one was the other name
        old = next(k for k, v in LEGACY_KEYS.items() if v == new)
        raise ConfigError(new, f"{old} and {new} are the same setting ({old} is its old name); give one")
    return new


def setting(
    default: Any,
    help: str,
    *,
    kind: str,
    choices: tuple[str, ...] = (),
    low: float | None = None,
    high: float | None = None,
    studies: tuple[str, ...] = STUDIES,
    models: tuple[str, ...] = BMI_MODELS,
    flag: str | None = None,
) -> Any:
    """A :class:`RunConfig` field with its checks and help.

    ``kind``: ``choice`` (one of ``choices``), ``int`` (``low`` <= value <= ``high``), ``float``
    (finite, ``low`` < value), ``amount`` (finite, >= 0; 0 turns the option off), ``duration``
    (seconds > 0; text with a unit accepted), ``span`` (a duration or 0: off), ``bool``, ``path``
    (text or None), ``dims`` (output columns) or ``sizes`` (layer sizes: one integer, or several
    as ``64,64``). ``studies``: the studies that read it;
    another study refuses a value other than the default. ``models``: the BMI decoders
    (``--model``) that read it (:meth:`RunConfig.unread`).
    """
    meta = {"help": help, "kind": kind, "choices": choices, "low": low, "high": high, "studies": studies,
            "models": models, "flag": flag}  # fmt: skip
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class RunConfig:
    """Settings of one run (one or more repeats of one training); see each field's help."""

    study: str = setting("ipd", "what is learned and measured", kind="choice", choices=STUDIES)
    backend: str = setting("snntorch", "neuron library", kind="choice", models=SPIKING, choices=BACKENDS)
    readout: str = setting(
        "mean", "how the output layer is read (oc = mean)", kind="choice", models=SPIKING, choices=READOUT_NAMES
    )
    tau: float = setting(
        0.02,
        "membrane time constant with a unit: 2ms, 0.002s, 2000us (BMI: in steps of --dt, see there)",
        kind="duration",
        models=SPIKING,
    )
    dt: float = setting(
        1e-3, "simulation step with a unit (BMI: a step is one 50 ms bin of --encoding bins, or one of the "
        "--window-steps held steps, whatever --dt: the durations count in steps, so --tau 20ms at --dt 1ms is 20 "
        "bins, 1 s of the recording)", kind="duration", models=SPIKING,
    )  # fmt: skip
    hidden: int | tuple[int, ...] = setting(
        30,
        "hidden LIF neurons (of --model ann: its ELU units); several hidden layers of the spiking network as 64,64",
        kind="sizes",
        models=TRAINED,
        low=1,
        high=100_000,
    )
    threshold: float = setting(1.0, "spike threshold", kind="float", models=SPIKING, low=0)
    surrogate_slope: float = setting(
        5.0, "slope of the sigmoid surrogate gradient", kind="float", models=SPIKING, low=0
    )
    epochs: int = setting(10, "training epochs", kind="int", models=TRAINED, low=1, high=1_000_000)
    batch_size: int = setting(64, "mini-batch size", kind="int", models=TRAINED, low=1, high=1_000_000)
    # Adam's first step is 10 x lr (its bias correction), in float32: a larger lr overflows inside torch
    lr: float = setting(0.01, "Adam learning rate", kind="float", models=TRAINED, low=0, high=FLOAT32_MAX / 10)
    lr_schedule: str = setting(
        "constant", "learning rate over the epochs: constant, or cosine (from --lr down to 0 at the end)",
        kind="choice", models=TRAINED, choices=LR_SCHEDULES,
    )  # fmt: skip
    weight_decay: float = setting(0.0, "Adam's L2 weight decay (0: none)", kind="amount", models=TRAINED)
    grad_clip: float = setting(
        0.0, "clip each model's gradient norm to this (0: no clipping)", kind="amount", models=TRAINED
    )
    ema: float = setting(0.0, "decay per mini-batch of an exponential moving average of the weights, e.g. 0.99; "
                         "validation, early stopping and the kept model use the average (0: none)", kind="amount",
                         models=TRAINED)  # fmt: skip
    repeats: int = setting(1, "independent trainings; repeat r uses seed + r", kind="int", low=1, high=100_000)
    batch_repeats: bool = setting(True, "train the repeats as one batched model (same numbers)", kind="bool")
    seed: int = setting(0, "random seed", kind="int", low=0, high=MAX_SEED)
    init: str = setting("notebook", "weight initialisation", kind="choice", models=SPIKING, choices=INIT_MODES)
    neuron: str = setting(
        "notebook", "LIF step: the notebook's (spike from the pre-update membrane, reset a step later) or "
        "standard (spike from the updated membrane, reset to 0 in the same step, as NIR's LIF)", kind="choice",
        models=SPIKING, choices=NEURONS,
    )  # fmt: skip
    device: str = setting("cpu", "where to train", kind="choice", choices=DEVICES)
    # the model space (snnsim.functional.cell, snnsim.functional.delay): library backends, standard neuron
    tau_syn: float = setting(
        0.0,
        "synaptic current time constant with a unit, e.g. 5ms (0: none; BMI: in steps of --dt, see there)",
        kind="span",
        models=SPIKING,
    )
    recurrent: bool = setting(False, "all-to-all recurrent weights in every hidden layer", kind="bool", models=SPIKING)
    learn_tau: bool = setting(False, "train a membrane time constant per hidden neuron (starting at --tau)",
                              kind="bool", models=SPIKING)  # fmt: skip
    tau_adapt: float = setting(0.0, "adaptive threshold: its decay time constant with a unit, e.g. 100ms (0: a "
                               "fixed threshold; BMI: in steps of --dt, see there)", kind="span", models=SPIKING)  # fmt: skip
    adapt_jump: float = setting(
        0.5, "threshold increase per spike of the adaptive threshold", kind="float", models=SPIKING, low=0
    )
    delays: str = setting("none", "axonal delays of the input channels: none, fixed (random, drawn once) or "
                          "learned", kind="choice", models=SPIKING, choices=DELAY_MODES)  # fmt: skip
    max_delay: float = setting(
        0.02, "largest input delay with a unit, a whole number of steps of --dt (IPD: time of the stimulus; BMI: "
        "one step per 50 ms bin whatever --dt, so 20ms at --dt 1ms delays by up to 20 bins)", kind="duration",
        models=SPIKING,
    )  # fmt: skip
    rate_reg: float = setting(0.0, "firing-rate regularisation: weight of the mean squared relative deviation "
                              "of each hidden neuron's rate from --rate-target (0: none)", kind="amount",
                              models=SPIKING)  # fmt: skip
    rate_target: float = setting(
        10.0, "target firing rate of the hidden neurons, Hz", kind="float", models=SPIKING, low=0
    )
    # IPD
    phase: str = setting(
        "per-sample", "tone phase offset per sample, or per data set (the notebook)", kind="choice",
        choices=PHASE_MODES, studies=("ipd",),
    )  # fmt: skip
    eval: str = setting(
        "readout", "score with the training readout, or the notebook's sum over time", kind="choice",
        choices=EVAL_MODES, studies=("ipd",),
    )  # fmt: skip
    n_train_batches: int = setting(
        64, "training set size in batches", kind="int", low=1, high=1_000_000, studies=("ipd",)
    )
    n_test_batches: int = setting(32, "test set size in batches", kind="int", low=1, high=1_000_000, studies=("ipd",))
    n_val_batches: int = setting(
        0, "validation set size in batches (0: none); with it, early stopping and the best weights", kind="int",
        low=0, high=1_000_000, studies=("ipd",),
    )  # fmt: skip
    fresh_data: bool = setting(
        False, "a new training set (new phases and Poisson draws) every epoch after the first (the training "
        "accuracy is scored on the first epoch's set)", kind="bool",
        studies=("ipd",),
    )  # fmt: skip
    tone_hz: float = setting(20.0, "tone frequency, Hz", kind="float", low=0, studies=("ipd",))
    rate_max_hz: float = setting(600.0, "peak firing rate of a fibre, Hz", kind="float", low=0, studies=("ipd",))
    duration: float = setting(
        0.1, "stimulus duration with a unit, a whole number of steps of dt", kind="duration", studies=("ipd",)
    )
    anf_per_ear: int = setting(100, "auditory-nerve fibres per ear", kind="int", low=1, high=10_000, studies=("ipd",))
    envelope_power: float = setting(2.0, "power of the rate envelope", kind="float", low=0, studies=("ipd",))
    n_classes: int = setting(12, "IPD classes over -90..90 deg", kind="int", low=2, high=10_000, studies=("ipd",))
    # BMI
    data: str | None = setting(
        None, "a bmi_dataset.pkl file, or synthetic:NAME[:SEED] of the generator family (default: the synthetic "
        "data set, synthetic:standard:0)", kind="path", studies=("bmi",),
    )  # fmt: skip
    target: str = setting(
        "dtheta",
        "arm variable to decode, with its unit (that of the predictions and the RMSE): theta (rad), dtheta (rad/s), "
        "ddtheta (rad/s^2), torque (N m)",
        kind="choice",
        choices=BMI_TARGETS,
        studies=("bmi",),
    )
    dims: tuple[int, ...] = setting(
        (0,), "output column: 0 shoulder, 1 elbow, or all (both; as --dim 0 --dim 1)", kind="dims",
        studies=("bmi",), flag="--dim",
    )  # fmt: skip
    rotation: int = setting(5, "fold rotation", kind="int", low=0, high=19, studies=("bmi",))
    n_train_folds: int = setting(18, "training folds", kind="int", low=1, high=18, studies=("bmi",))
    model: str = setting("snn", "decoder", kind="choice", choices=BMI_MODELS, studies=("bmi",))
    mi_order: str = setting("neuron-major", "MI column order", kind="choice", choices=MI_ORDERS, studies=("bmi",))
    encoding: str = setting(
        "bins", "how the spiking decoder sees a sample: bins (one step per 50 ms bin, 48 input currents) or "
        "window (all 960 bin x neuron values as input currents, held for --window-steps steps); the ANN and "
        "ridge decoders always read the 960 values", kind="choice", models=SPIKING,
        choices=BMI_ENCODINGS, studies=("bmi",),
    )  # fmt: skip
    window_steps: int = setting(
        8, "steps for which the window encoding holds its currents", kind="int", models=SPIKING, low=1, high=1000,
        studies=("bmi",),
    )  # fmt: skip
    readout_units: int = setting(
        1, "output units per decoded dimension, their weighted readouts summed (with --readout weighted)",
        kind="int", models=SPIKING, low=1, high=64, studies=("bmi",),
    )  # fmt: skip
    input_rank: int = setting(
        0, "rank of the spiking decoder's input weights: w1 = A B, trained as A (inputs, R) and B (R, hidden) "
        "(0: full rank)", kind="int", models=SPIKING, low=0, high=1_000_000, studies=("bmi",),
    )  # fmt: skip
    input_noise: float = setting(
        0.0, "sd of Gaussian noise added to the z-scored inputs of every training batch (0: none)", kind="amount",
        models=TRAINED, studies=("bmi",),
    )  # fmt: skip
    dropout: float = setting(
        0.0, "probability of zeroing each input of a training batch (inverted dropout; 0: none)", kind="amount",
        models=TRAINED, studies=("bmi",),
    )  # fmt: skip
    patience: int = setting(10, "early-stopping patience (epochs without a better validation score)", kind="int",
                            models=TRAINED, low=1, high=1_000_000)  # fmt: skip

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            checked = coerce(f.name, value)
            if checked is not value:
                object.__setattr__(self, f.name, checked)
        for f in fields(self):
            if self.study not in f.metadata["studies"] and getattr(self, f.name) != f.default:
                users = " and ".join(f.metadata["studies"])
                raise _bad(f.name, f"a setting of the {users} study; the {self.study} study does not use it")
        if self.study == "ipd":
            self._check_stimulus()
        self._check_reach()
        if self.readout in LEARNED_READOUTS and self.study not in LEARNED_READOUTS[self.readout]:
            raise _bad("readout", f"{self.readout} learns weights of its own, which only the "
                                  f"{' and '.join(LEARNED_READOUTS[self.readout])} study's model carries")  # fmt: skip
        if self.readout_units > 1 and self.readout != "weighted":
            raise _bad("readout_units", f"{self.readout_units} units per output are summed after the weighted "
                                        "readout; use it with --readout weighted")  # fmt: skip
        if self.window_steps != _FIELDS["window_steps"].default and self.encoding != "window":
            raise _bad("window_steps", "a setting of --encoding window; add it")
        if self.input_rank:
            if self.model != "snn":
                raise _bad("input_rank", f"a setting of the spiking decoder (--model snn), not of --model {self.model}")
            inputs = N_NEURONS * N_BINS if self.encoding == "window" else N_NEURONS
            if self.input_rank > inputs:
                raise _bad("input_rank", f"at most the {inputs} inputs of --encoding {self.encoding}, "
                                         f"got {self.input_rank}")  # fmt: skip
        if self.encoding == "window" and self.delays != "none":
            raise _bad("delays", "input delays need inputs that change over time; --encoding window holds one "
                                 "input for all steps")  # fmt: skip
        self._check_model_space()
        if self.backend == "norse" and self.alpha == 1.0:  # Norse's LIF leaks by dt/tau: it cannot hold alpha = 1
            raise _bad("tau", f"{self.tau:g} s is so long against dt that the membrane does not decay within float "
                              "precision (alpha = 1), which the norse backend cannot express; use --backend "
                              "snntorch or fused, or a shorter --tau")  # fmt: skip
        if self.seed + self.repeats - 1 > MAX_SEED:
            raise _bad("seed", f"seed + repeats - 1 must be <= {MAX_SEED}, got {self.seed + self.repeats - 1}")

    def _check_stimulus(self) -> None:
        """The IPD stimulus against the step ``dt``: its duration, tone and peak rate."""
        if not self.duration / self.dt < MAX_STEPS + 0.5:  # an infinite duration too
            raise _bad("duration", f"must hold at most {MAX_STEPS:,} steps of dt={self.dt} s, got {self.duration} s")
        self._check_whole_steps("duration", least=2, most=MAX_STEPS)
        if self.steps < 2:  # counted in steps: 2 * 0.05 ms is 9.999999999999999e-05 s
            raise _bad("duration", f"must hold at least two steps of dt={self.dt} s, got {self.duration} s")
        if self.tone_hz * self.dt >= 0.5:
            raise _bad("tone_hz", f"must be below half the step rate (1 / (2 dt) = {0.5 / self.dt:g} Hz), or the "
                                  f"sampled tone aliases; got {self.tone_hz:g} Hz")  # fmt: skip
        if self.rate_max_hz * self.dt > 1:
            raise _bad("rate_max_hz", f"at most one spike per step of dt={self.dt:g} s: must be <= "
                                      f"{1 / self.dt:g} Hz (or a smaller --dt), got {self.rate_max_hz:g} Hz")  # fmt: skip

    def _check_reach(self) -> None:
        """Enough steps per sample for an input to reach the output through the neuron's delays."""
        if self.neuron != "notebook" or (self.study == "bmi" and (self.model != "snn" or self.encoding != "window")):
            return
        name, steps = ("duration", self.steps) if self.study == "ipd" else ("window_steps", self.window_steps)
        if steps < NOTEBOOK_REACH:
            raise _bad(name, f"gives {steps} step(s) per sample; the notebook neuron needs at least {NOTEBOOK_REACH} for "
                             "an input to reach the output (its spike comes 2 steps after the input and the output "
                             "integrates it a step later): give more steps, or --neuron standard")  # fmt: skip

    def _check_model_space(self) -> None:
        """Model-space options: on the backends that carry them, with the standard neuron, for
        the spiking decoders, and their sub-settings only with them."""
        if self.ema >= 1:
            raise _bad("ema", f"must be below 1 (the weight of the average's past per mini-batch), got {self.ema}")
        if self.dropout >= 1:
            raise _bad("dropout", f"must be below 1 (the probability of zeroing an input), got {self.dropout}")
        for sub, main in (("adapt_jump", "tau_adapt"), ("max_delay", "delays"), ("rate_target", "rate_reg")):
            if getattr(self, sub) != _FIELDS[sub].default and getattr(self, main) == _FIELDS[main].default:
                raise _bad(sub, f"a setting of {flag(main)}, which is off; set {flag(main)} too")
        for name in self.model_space:
            if self.study == "bmi" and self.model != "snn":  # first: no backend or neuron would make it run
                raise _bad(name, f"a setting of the spiking decoder (--model snn), not of --model {self.model}")
        for name in self.model_space:
            if self.backend not in MODEL_SPACE[name]:
                backends = " or ".join(MODEL_SPACE[name])
                if name != "rate_reg" and self.neuron != "standard":  # both refusals in one line, not two tries
                    # the backends that carry every option on, so that the combination given then runs
                    common = [b for b in BACKENDS if all(b in MODEL_SPACE[n] for n in self.model_space)]
                    raise _bad(name, f"runs on --backend {backends} only, with --neuron standard; the {self.backend} "
                                     f"backend does not carry it, and the {self.neuron} neuron does not step as the "
                                     "model-space neurons do (spike from the updated membrane): give --backend "
                                     f"{' or '.join(common or MODEL_SPACE[name])} and --neuron standard")  # fmt: skip
                raise _bad(name, f"runs on --backend {backends} only; the {self.backend} backend does not carry it")
        for name in self.model_space:  # after every option's backend: "add --neuron standard" then runs
            if name != "rate_reg" and self.neuron != "standard":
                raise _bad(name, "the model-space neurons step as the libraries' neurons do (spike from the updated "
                                 "membrane); add --neuron standard")  # fmt: skip
        if self.learn_tau and self.alpha > ALPHA_MAX:  # the learned decays are clamped: frozen above it
            longest = -self.dt / math.log(ALPHA_MAX)
            raise _bad("tau", f"with --learn-tau, must be below {longest:.5g} s (a membrane decay per step of at most "
                              f"{ALPHA_MAX:g} at dt={self.dt:g} s, the largest a learned decay may take; a longer "
                              f"tau would run at that decay and never learn), got {self.tau:g} s")  # fmt: skip
        if self.delays != "none":
            self._check_max_delay()

    def _check_max_delay(self) -> None:
        """``max_delay`` from one step (dt) to the last step of a sample: the delay kernel spans
        ``max_delay / dt + 1`` steps, and an input delayed by a sample's steps or more never reaches
        the network (only the zeros before the sample do)."""
        steps = self.steps if self.study == "ipd" else BMI_STEPS
        whole = (f"the whole stimulus of --duration {self.duration:g} s" if self.study == "ipd"
                 else f"a whole BMI sample of {N_BINS} bins and {BMI_STEPS - N_BINS} trailing steps")  # fmt: skip
        bins = ("" if self.study == "ipd" else f"; a BMI step is one 50 ms bin whatever --dt: {self.max_delay:g} s "
                f"is a delay of {self.max_delay / self.dt:.4g} bins")  # fmt: skip
        if self.max_delay < self.dt or self.delay_steps > steps - 1:
            raise _bad("max_delay", f"must be in {self.dt:g}..{(steps - 1) * self.dt:g} s, 1 to {steps - 1} steps of "
                                    f"dt={self.dt:g} s (an input delayed by {steps} steps or more, {whole}, never "
                                    f"reaches the network), got {self.max_delay:g} s" + bins)  # fmt: skip
        self._check_whole_steps("max_delay", most=steps - 1)

    def _check_whole_steps(self, name: str, least: int = 1, most: int | None = None) -> None:
        """The duration ``name`` is a whole number of steps of ``dt`` (it is simulated as one), of
        ``least`` to ``most`` steps where it is not: the durations offered instead are ones it takes."""
        value = getattr(self, name)
        steps = value / self.dt
        if not whole_steps(value, self.dt):
            top = math.inf if most is None else most
            taken = sorted({min(max(n, least), top) for n in (math.floor(steps), math.ceil(steps))})
            offered = " s or ".join(f"{n * self.dt:.10g}" for n in taken)
            raise _bad(name, f"must be a whole number of steps of dt={self.dt:g} s, got {value:.10g} s ({steps:.10g} "
                             f"steps): give {offered} s")  # fmt: skip

    @property
    def model_space(self) -> list[str]:
        """The model-space options (``backends.MODEL_SPACE``) this config turns on, by field name
        (``hidden`` where there are several hidden layers)."""
        return [name for name in MODEL_SPACE
                if (len(self.hidden_sizes) > 1 if name == "hidden" else getattr(self, name) != _FIELDS[name].default)]  # fmt: skip

    def unread(self, names: Iterable[str]) -> list[str]:
        """Those of the settings ``names`` that this config's BMI decoder (``--model``) does not
        read: the spiking network's for ``ann``, and also the training's for ``linear``."""
        if self.study != "bmi":
            return []
        return [name for name in names if name in _FIELDS and self.model not in _FIELDS[name].metadata["models"]]

    # -- derived -----------------------------------------------------------------------------
    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """Neurons of each hidden layer."""
        return self.hidden if isinstance(self.hidden, tuple) else (self.hidden,)

    @property
    def steps(self) -> int:
        """Number of simulation steps of one IPD stimulus."""
        return int(round(self.duration / self.dt))

    @property
    def delay_steps(self) -> int:
        """Steps of the largest input delay (``max_delay / dt``, a whole number; 0 without delays)."""
        return int(round(self.max_delay / self.dt)) if self.delays != "none" else 0

    @property
    def alpha(self) -> float:
        """Membrane decay per step, exp(-dt/tau)."""
        return math.exp(-self.dt / self.tau)

    # -- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["dims"] = list(self.dims)
        if isinstance(self.hidden, tuple):
            d["hidden"] = list(self.hidden)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """A config from settings by name (values as in TOML: ``"2ms"`` for durations)."""
        d = {LEGACY_KEYS.get(k, k): v for k, v in d.items()}
        unknown = sorted(set(d) - set(field_names()))
        if unknown:
            raise ConfigError(unknown[0], f"unknown setting; known settings: {', '.join(field_names())}")
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        return cls.from_dict(json.loads(text))

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)


# -- checks and conversion -----------------------------------------------------------------------
def config_digest(config_json: str) -> str:
    """A short SHA-256 of a run config's JSON (:meth:`RunConfig.to_json`): a checkpoint's sidecar
    names the configs it was made by with these (:func:`snnsim.training.key_configs`)."""
    return hashlib.sha256(config_json.encode()).hexdigest()[:16]


def field_names() -> list[str]:
    return [f.name for f in fields(RunConfig)]


def metadata(name: str) -> dict[str, Any]:
    """The metadata of field ``name`` (see :func:`setting`)."""
    return _FIELDS[name].metadata


def bare_durations(table: dict[str, Any], prefix: str = "") -> list[str]:
    """The durations of a TOML table (a run's ``--config``, an experiment's ``[fixed]`` or
    ``[sweep]``, a tuning spec's ``[search]``) given as bare numbers, which are seconds:
    ``["tau = 20"]`` (20 s, where ``"20ms"`` was likely meant)."""

    def numbers(value: Any) -> list[Any]:
        if isinstance(value, dict):
            return [v for item in value.values() for v in numbers(item)]
        return [v for item in value for v in numbers(item)] if isinstance(value, list) else [value]

    return [f"{prefix}{name} = {value!r}" for name, value in table.items()
            if name in DURATION_FIELDS and any(type(v) in (int, float) and v for v in numbers(value))]  # fmt: skip


def flag(name: str) -> str:
    """The CLI flag of field ``name``: ``batch_size`` -> ``--batch-size``."""
    return metadata(name)["flag"] or "--" + name.replace("_", "-")


def as_keys(text: str, keep: Iterable = ()) -> str:
    """``text`` with the settings it names by their flags (``--batch-size``) named by their keys
    (``batch_size``), as an experiment file, a tune spec or a run's config file gives them: a choice
    with its values as the file writes them (``--neuron standard``: ``neuron = "standard"``;
    ``--backend norse or fused``: ``backend = "norse" or "fused"``), a switch as turned on
    (``--learn-tau``: ``learn_tau = true``; ``learn_tau`` where it leads a message, ``--learn-tau:
    ...``); other flags (``--pack``), and paths that hold a flag's letters (``my--data.pkl``), stay.
    So do the values of ``keep`` (the file's values) where the text quotes them: a path that starts
    as a flag does (``data = "--data notes.pkl"``) is the file's path, not a flag."""
    values = sorted({v for v in keep if isinstance(v, str) and "--" in v}, key=len, reverse=True)
    if values:  # the values as given, the text between them as keys
        parts = re.split("(" + "|".join(map(re.escape, values)) + ")", text)
        return "".join(part if i % 2 else as_keys(part) for i, part in enumerate(parts))
    keys = {flag(name): name for name in field_names()}

    def key(m: re.Match) -> str:
        name, values = keys.get(m.group(1)), m.group(2).split(" or ") if m.group(2) else []
        if name is None:
            return m.group(0)
        meta = metadata(name)
        if values and meta["kind"] == "choice" and all(v in meta["choices"] for v in values):
            return f"{name} = " + " or ".join(f'"{v}"' for v in values)
        on = meta["kind"] == "bool" and not m.string.startswith(":", m.end())  # not a message's lead (--learn-tau: ...)
        return name + (" = true" if on else "") + (f" {m.group(2)}" if values else "")

    return re.sub(r"(?<![\w./-])(--[a-z][a-z-]*)(?![\w./])(?: ([a-z][\w-]*(?: or [a-z][\w-]*)*))?", key, text)


def describe(name: str) -> str:
    """The help line of field ``name`` with its accepted values or range and its default."""
    meta = metadata(name)
    text = meta["help"]
    if meta["kind"] == "choice":
        text += f"; one of {', '.join(meta['choices'])}"
    elif meta["kind"] == "int" and meta["high"] is not None and meta["high"] < 1000:
        text += f"; {meta['low']}..{meta['high']}"
    default = _FIELDS[name].default
    if meta["kind"] in ("duration", "span"):
        from .units import format_duration

        default = format_duration(default)
    elif meta["kind"] == "dims":
        default = ",".join(map(str, default))
    elif default is None:  # the text says what is used instead
        return text
    return f"{text} (default {default})"


def close_names(word: str, known: Iterable[str], helps: Callable[[str], str]) -> list[str]:
    """At most four of the names ``known`` that an unknown ``word`` may mean: the one it is but for
    ``-`` and ``_`` (``batch-size``: batch_size) alone; else those whose help (``helps(name)``)
    names its words when it has several (``learning_rate``: lr, "Adam learning rate"), those
    spelled alike (``tua``: tau; ``num_epochs``: epochs), then those it begins (``readouts``). A
    file's keys (:func:`setting_hint`) and a command's flags (``snnsim.cli``) are guessed by it."""
    known, key = sorted(known), word.replace("-", "_")
    if key in known:
        return [key]
    words = re.sub(r"[_\-]+", " ", word).strip().lower()
    named = [k for k in known if " " in words and words in helps(k).lower()]
    alike = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
    begun = [k for k in known if k.startswith(key[:3])]
    return list(dict.fromkeys(named + alike + begun))[:4]


def setting_hint(key: str, known: set[str]) -> str:
    """The settings an unknown ``key`` may mean (:func:`close_names`); else the list of every
    setting (experiment files, a run's config file, a tune spec)."""
    close = close_names(key, known, describe)
    return f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(known))}"


def whole_steps(value: float, dt: float) -> bool:
    """Whether the duration ``value`` (s) is a whole number of steps of ``dt`` (s), to float error."""
    steps = value / dt
    return abs(steps - round(steps)) <= 1e-9 * max(1.0, steps)  # float error, not a part of a step


def coerce(name: str, value: Any) -> Any:
    """Check ``value`` for field ``name`` and convert it from text or TOML where its kind allows
    (``"2ms"`` -> 0.002, ``"10"`` -> 10, ``[0, 1]`` -> (0, 1); a whole number of a float setting,
    TOML's ``lr = 1``, -> 1.0, as the flag gives it: a config, and the checkpoint key made of it,
    do not depend on how it was spelled). Raises :class:`ConfigError`
    naming the flag; returns ``value`` itself when it is already valid as it is."""
    meta = metadata(name)
    kind = meta["kind"]
    if kind == "choice":
        if not isinstance(value, str):
            raise _bad(name, f"expected one of {', '.join(meta['choices'])}, got {value!r}")
        if name == "readout" and value in READOUT_ALIASES:
            return READOUT_ALIASES[value]
        if value not in meta["choices"]:
            raise _bad(name, f"unknown value {value!r}; accepted: {', '.join(meta['choices'])}")
        return value
    if kind == "duration" or (kind == "span" and not _zero(value)):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise _bad(name, str(exc) + (" (or 0: off)" if kind == "span" else "")) from None
    if kind == "span":
        return 0.0
    if kind == "int":
        return _integer(name, value, meta["low"], meta["high"])
    if kind == "float":
        return _number(name, value, meta["low"], meta["high"])
    if kind == "amount":
        try:
            number = float(value.strip()) if isinstance(value, str) else value
        except ValueError:
            number = None
        if (isinstance(number, bool) or not isinstance(number, (int, float)) or not finite(number) or number < 0
                or number > FLOAT32_MAX):  # fmt: skip
            raise _bad(name, f"must be a number in 0..{FLOAT32_MAX:.3g} (0: off; torch computes in float32), "
                             f"got {_shown(value)}")  # fmt: skip
        return float(number)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise _bad(name, f"expected true or false, got {value!r}")
    if kind == "path":
        if not (value is None or (isinstance(value, str) and value)):
            raise _bad(name, f"expected a file path, got {value!r}")
        if name == "data" and value is not None:  # synthetic:NAME:SEED, or a file
            from .datasets.bmi_synthetic import parse_source

            try:
                parse_source(value)
            except ValueError as exc:
                raise _bad(name, str(exc)) from None
        # a TOML file leaves "~/bmi.pkl" to the program: the home folder, as the shell makes of --data ~/bmi.pkl
        return value if value is None else os.path.expanduser(value)
    if kind == "dims":
        return _dims(name, value)
    if kind == "sizes":
        return _sizes(name, value, meta["low"], meta["high"])
    raise AssertionError(f"unknown kind {kind!r}")


def _zero(value: Any) -> bool:
    """Whether ``value`` is zero, with or without a unit: 0, 0.0, "0", "0ms", "0.0 s", "0µs" (off)."""
    if isinstance(value, str):
        return re.fullmatch(r"\s*(0+(\.0*)?|\.0+)\s*(s|ms|us|\u00b5s|\u03bcs)?\s*", value) is not None
    return not isinstance(value, bool) and isinstance(value, (int, float)) and value == 0


def _bad(name: str, message: str) -> ConfigError:
    """The error for field ``name``, naming its flag."""
    return ConfigError(name, message, flag=flag(name))


def _integer(name: str, value: Any, low: int, high: int | None) -> int:
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise _bad(name, f"expected an integer, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(name, f"expected an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        span = f"in {low}..{high}" if high is not None else f">= {low}"
        raise _bad(name, f"must be an integer {span}, got {value!r}")
    return value


def _hz_hint(name: str, given: str) -> str:
    """``" (a number of Hz, without the unit: 10)"`` where a rate (its help gives Hz) was given with
    its unit (``10Hz``, ``1kHz``: 1000); else ``""`` (``--lr 1Hz``, ``Hz`` alone)."""
    number, scale = given.strip()[:-2].strip(), 1.0
    if not given.strip().lower().endswith("hz") or "Hz" not in metadata(name)["help"]:
        return ""
    if number[-1:] in ("k", "K"):
        number, scale = number[:-1].strip(), 1000.0
    try:
        hz = float(number) * scale
    except ValueError:
        return ""
    return f" (a number of Hz, without the unit: {hz:g})" if finite(hz) else ""


def _number(name: str, value: Any, low: float, high: float | None = None) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _bad(name, f"expected a number, got {value!r}{_hz_hint(name, value)}") from None
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not finite(value) or value <= low
            or (high is not None and value > high)):  # fmt: skip
        raise _bad(name, f"must be a finite number > {low:g}" + (f" and <= {high:g}" if high is not None else "")
                   + f", got {_shown(value)}")  # fmt: skip
    if value != 0 and not FLOAT32_TINY <= abs(value) <= FLOAT32_MAX:  # torch computes in float32: 0 or inf there
        raise _bad(name, f"{_shown(value)} is out of float32's range ({FLOAT32_TINY:.3g}..{FLOAT32_MAX:.3g} in "
                         "size), in which torch computes")  # fmt: skip
    return float(value)


def finite(x: float) -> bool:
    """Whether ``x`` is a finite float (an integer past float's range is not)."""
    try:
        return math.isfinite(x)
    except OverflowError:
        return False


def _shown(value: Any) -> str:
    """``value`` for an error message: an integer of hundreds of digits by its length."""
    return (
        f"an integer of {len(str(abs(value)))} digits"
        if isinstance(value, int) and abs(value) > 10**20
        else repr(value)
    )


def _sizes(name: str, value: Any, low: int, high: int) -> int | tuple[int, ...]:
    """One size (an int) or several (a tuple of at least two): ``30``, ``"64,64"``, ``[64, 64]``."""
    items = value.split(",") if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else [value]
    try:
        sizes = tuple(_integer(name, item, low, high) for item in items)
    except ConfigError:
        raise _bad(name, f"expected layer sizes in {low}..{high}, one (30) or several (64,64), got {value!r}") from None
    if not sizes:
        raise _bad(name, "give at least one layer size")
    if len(sizes) == 1:
        return value if isinstance(value, int) and not isinstance(value, bool) else sizes[0]
    return value if value == sizes else sizes


def _dims(name: str, value: Any) -> tuple[int, ...]:
    """Output columns from ``0``, ``"all"``, ``"0,1"``, ``[0, 1]`` or the CLI's list (``--dim 0 --dim 1``)."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    items = [part for item in items for part in (item.split(",") if isinstance(item, str) else [item])]
    out = []
    for item in items:
        if isinstance(item, str) and item.strip() in ("0", "1", "all"):
            out += [0, 1] if item.strip() == "all" else [int(item)]
        elif not isinstance(item, bool) and item in (0, 1):
            out.append(int(item))
        else:
            raise _bad(name, f"output columns are 0 (shoulder), 1 (elbow) or all, got {item!r}")
    if not out:
        raise _bad(name, "give at least one output column: 0 (shoulder), 1 (elbow) or all")
    dims = tuple(dict.fromkeys(out))
    return value if value == dims else dims


_FIELDS = {f.name: f for f in fields(RunConfig)}
#: The settings that are durations, in seconds (``span``: a duration, or 0 for off).
DURATION_FIELDS = tuple(name for name, f in _FIELDS.items() if f.metadata["kind"] in ("duration", "span"))
