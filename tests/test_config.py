import dataclasses
import json
import pickle
import re

import pytest

from snnsim.config import RunConfig, coerce, field_names, flag, metadata
from snnsim.errors import ConfigError


def test_defaults_are_the_notebook_setting():
    cfg = RunConfig()
    assert (cfg.hidden, cfg.epochs, cfg.batch_size, cfg.lr, cfg.n_train_batches, cfg.n_test_batches) == (
        30,
        10,
        64,
        0.01,
        64,
        32,
    )
    assert cfg.steps == 100 and 2 * cfg.anf_per_ear == 200 and cfg.n_classes == 12
    assert cfg.alpha == pytest.approx(0.951229424500714)


def test_oc_is_an_alias_of_mean():
    assert RunConfig(readout="oc").readout == "mean"


@pytest.mark.parametrize(
    "field, value, flag",
    [
        ("readout", "median", "--readout"),
        ("backend", "brian", "--backend"),
        ("tau", -0.002, "--tau"),
        ("tau", 0.0, "--tau"),
        ("hidden", 0, "--hidden"),
        ("batch_size", 2.5, "--batch-size"),
        ("phase", "random", "--phase"),
        ("eval", "mean", "--eval"),
        ("seed", -1, "--seed"),
        ("lr", 0.0, "--lr"),  # a float setting's bound is excluded: no training at lr 0
        ("threshold", 0, "--threshold"),
    ],
)
def test_invalid_settings_name_the_flag(field, value, flag):
    with pytest.raises(ConfigError) as info:
        RunConfig(**{field: value})
    assert str(info.value).startswith(flag)


def test_unknown_readout_lists_accepted_values():
    with pytest.raises(ConfigError, match="mean, max, fr"):
        RunConfig(readout="median")


def test_json_and_pickle_round_trip():
    cfg = RunConfig(study="bmi", readout="fr", tau=0.002, dims=(0, 1), repeats=3)
    assert RunConfig.from_json(cfg.to_json()) == cfg
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert json.loads(cfg.to_json())["tau"] == 0.002


def test_unknown_key_is_rejected():
    with pytest.raises(ConfigError, match="unknown setting"):
        RunConfig.from_dict({"taus": 1})


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RunConfig().tau = 1.0


def test_a_study_refuses_the_settings_of_another():
    with pytest.raises(ConfigError, match=r"^--data: a setting of the bmi study; the ipd study does not use it"):
        RunConfig(data="/nonexistent.pkl")
    with pytest.raises(ConfigError, match=r"^--model: a setting of the bmi study"):
        RunConfig(model="ann")
    with pytest.raises(ConfigError, match=r"^--phase: a setting of the ipd study; the bmi study"):
        RunConfig(study="bmi", phase="per-dataset")
    assert RunConfig(study="bmi", model="ann").model == "ann"


@pytest.mark.parametrize(
    "field, text, value",
    [
        ("tau", "2ms", 0.002),
        ("epochs", "7", 7),
        ("lr", "0.003", 0.003),
        ("batch_repeats", "false", False),
        ("batch_repeats", "1", True),
        ("batch_repeats", "0", False),
        ("dims", "all", (0, 1)),
        ("dims", ["1", "0"], (1, 0)),
        ("dims", ["0,1"], (0, 1)),  # --dim 0,1 on the command line
        ("tau_syn", "0ms", 0.0),  # off, with a unit
        ("tau_syn", "0.0", 0.0),
        ("tau_adapt", "0 s", 0.0),
        ("tau_syn", "0µs", 0.0),  # off in every unit that parse_duration takes (µs was refused as not positive)
        ("tau_syn", "0\u03bcs", 0.0),  # Greek mu
        ("readout", "oc", "mean"),
        ("seed", "4294967295", 2**32 - 1),
    ],
)
def test_text_from_the_edges_is_converted_by_the_config(field, text, value):
    study = "bmi" if field == "dims" else "ipd"
    assert getattr(RunConfig.from_dict({"study": study, field: text}), field) == value


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("seed", 2**64, r"^--seed: must be an integer in 0\.\.4294967295"),
        ("epochs", "1.5", r"^--epochs: expected an integer, got '1.5'"),
        ("tau", "-1ms", r"^--tau: duration must be positive"),
        ("dims", 7, r"^--dim: output columns are 0"),
        ("tau_syn", "-0ms", r"^--tau-syn: duration must be positive"),
        ("tau_syn", False, r"^--tau-syn: expected a duration"),
        ("threshold", 1e39, r"^--threshold: 1e\+39 is out of float32's range \(1\.18e-38\.\.3\.4e\+38 in size\)"),
        ("lr", 1e-320, r"^--lr: 1e-320 is out of float32's range"),  # 0 in float32: training frozen silently
        ("lr", 1e38, r"^--lr: must be a finite number > 0 and <= 3\.40282e\+37, got 1e\+38$"),  # overflowed in Adam
    ],
)
def test_messages_name_the_flag_and_the_range(field, value, message):
    study = "bmi" if field == "dims" else "ipd"
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_dict({"study": study, field: value})


def test_a_membrane_without_decay_is_refused_on_norse_only():
    """At dt/tau below float precision alpha is 1: snnTorch and the fused kernels hold a membrane
    that does not leak; Norse's LIF leaks by dt/tau and divided by zero."""
    for backend in ("snntorch", "fused"):
        assert RunConfig(backend=backend, tau=1e14).alpha == 1.0
    with pytest.raises(ConfigError, match=r"^--tau: 1e\+14 s is so long .* \(alpha = 1\), which the norse backend"):
        RunConfig(backend="norse", tau=1e14)


def test_seed_plus_repeats_stays_in_range():
    with pytest.raises(ConfigError, match="seed \\+ repeats - 1"):
        RunConfig(seed=2**32 - 1, repeats=2)


def test_older_files_key_task_is_read_as_study():
    cfg = RunConfig(study="bmi", model="linear")
    old = cfg.to_dict()
    old["task"] = old.pop("study")
    assert RunConfig.from_dict(old) == cfg


@pytest.mark.parametrize(
    "settings, flag",
    [(dict(duration="3ms"), "--duration"), (dict(study="bmi", encoding="window", window_steps=3), "--window-steps")],
)
def test_too_few_steps_for_the_notebook_neuron_are_refused(settings, flag):
    with pytest.raises(ConfigError, match=f"^{flag}: gives 3 step.*needs at least 4.*--neuron standard"):
        RunConfig.from_dict(settings)
    RunConfig.from_dict({**settings, "neuron": "standard"})  # fires in the step of its input
    four = {**settings, "duration": "4ms"} if "duration" in settings else {**settings, "window_steps": 4}
    RunConfig.from_dict(four)
    RunConfig.from_dict({"study": "bmi", "encoding": "bins", "model": "linear"})  # not a spiking window


@pytest.mark.parametrize("steps, responds", [(3, False), (4, True)])
def test_the_notebook_neuron_needs_four_steps_to_reach_the_output(steps, responds):
    """Why the check above says 4: the output of a notebook-neuron network over 3 steps is the
    same for every input, whatever the weights; over 4 it is not."""
    import torch

    from snnsim.backends import make_backend
    from snnsim.functional.lif import LIFParameters
    from snnsim.network import Decoder
    from snnsim.readouts import get_readout

    model = Decoder(6, 5, 2, make_backend("snntorch"), get_readout("mean"), LIFParameters(alpha=0.9), "fan-in",
                    [torch.Generator().manual_seed(0)])  # fmt: skip
    with torch.no_grad():
        model.w1.abs_().mul_(100)  # a hidden neuron with input is far above threshold
        x = torch.rand(1, 8, steps, 6, generator=torch.Generator().manual_seed(1))
        x[:, :4] = 0  # half the samples without input
        trace = model(x).trace
    assert bool((trace != trace[:, :1]).any()) is responds  # does any sample's output differ?


ODD_VALUES = [[1], ["mean"], [], (), {"a": 1}, None, True, float("nan"), float("inf"), -1, "", " ", 10**30, 1e308]


@pytest.mark.parametrize("name", [n for n in field_names() if n != "study"])
def test_any_value_of_any_setting_is_accepted_or_a_config_error(name):
    """What an experiment or config file can hold (a list, a table, a huge number) gives a
    ConfigError naming the flag, never another exception from deep inside."""
    study = next(s for s in ("ipd", "bmi") if s in metadata(name)["studies"])
    for value in ODD_VALUES:
        try:
            RunConfig.from_dict({"study": study, name: value})
        except ConfigError as exc:  # this setting's flag, or another's where they conflict (dt and duration)
            assert str(exc).split(": ", 1)[0] in {flag(n) for n in field_names()}


def test_a_tone_above_the_nyquist_frequency_of_dt_is_refused():
    with pytest.raises(ConfigError, match=r"^--tone-hz: must be below half the step rate .* = 500 Hz"):
        RunConfig(tone_hz=500.0)  # dt 1 ms: 2 samples per period
    assert RunConfig(tone_hz=499.0, dt="1ms").tone_hz == 499.0
    assert RunConfig(tone_hz=1000.0, dt="0.1ms", rate_max_hz=600.0).tone_hz == 1000.0  # a finer step carries it


@pytest.mark.parametrize("name, given", [("rate_target", "10Hz"), ("tone_hz", "20 Hz"), ("rate_max_hz", "600hz")])
def test_a_rate_given_with_its_unit_says_to_give_the_number_alone(name, given):
    """The help gives these in Hz, so ``--rate-target 10Hz`` is what a reader types; it got
    "expected a number, got '10Hz'" with no word that the value takes no unit."""
    number = given[:-2].strip()
    with pytest.raises(ConfigError, match=rf"^{flag(name)}: expected a number, got '{given}' \(a number of Hz, "
                                          rf"without the unit: {number}\)$"):  # fmt: skip
        RunConfig.from_dict({name: given})
    with pytest.raises(ConfigError, match=r"expected a number, got 'fast'$"):  # no unit: no word of one
        RunConfig.from_dict({name: "fast"})


@pytest.mark.parametrize("name, given, hint", [("tone_hz", "1kHz", " (a number of Hz, without the unit: 1000)"),
                                               ("rate_target", "Hz", ""), ("lr", "1Hz", "")])  # fmt: skip
def test_a_unit_hint_gives_a_number_the_setting_takes(name, given, hint):
    """The hint on a rate given with its unit named "1k" for ``--tone-hz 1kHz`` (refused again), an
    empty number for ``Hz`` alone, and "a number of Hz" for ``--lr 1Hz``, which is no rate."""
    with pytest.raises(ConfigError, match=rf"^{flag(name)}: expected a number, got '{given}'{re.escape(hint)}$"):
        RunConfig.from_dict({name: given})


def test_a_peak_rate_above_one_spike_per_step_names_dt_and_the_bound():
    with pytest.raises(ConfigError, match=r"^--rate-max-hz: at most one spike per step of dt=0.002 s: must be <= "
                                          r"500 Hz \(or a smaller --dt\), got 600 Hz"):  # fmt: skip
        RunConfig(dt="2ms")
    assert RunConfig(dt="2ms", rate_max_hz=500.0).rate_max_hz == 500.0


DELAYS = dict(delays="learned", neuron="standard", backend="norse")


@pytest.mark.parametrize(
    "settings, name, given, lo, hi",
    [
        (dict(duration="100.4ms"), "duration", "0.1004 s (100.4 steps)", "0.1", "0.101"),
        (dict(duration="100.5ms"), "duration", "0.1005 s (100.5 steps)", "0.1", "0.101"),
        (dict(dt="0.3ms"), "duration", "0.1 s (333.3333333 steps)", "0.0999", "0.1002"),
        # float error is not a part of a step: 600000.4 steps of 1 us are none
        (dict(dt="1us", duration="0.6000004s"), "duration", "0.6000004 s (600000.4 steps)", "0.6", "0.600001"),
        # offered in as many digits as they take: not 299.999 s or 300 s, neither a whole number of steps
        (
            dict(dt="0.3ms", duration="299.99965s"),
            "duration",
            "299.99965 s (999998.8333 steps)",
            "299.9994",
            "299.9997",
        ),
        # a million steps are the most a stimulus holds: not 1000.001 s, which is refused
        (dict(duration="1000.0004s"), "duration", "1000.0004 s (1000000.4 steps)", "1000", None),
        # 99 steps are the most of a 100 ms stimulus: not 0.1 s, which is refused
        (dict(**DELAYS, max_delay="99.4ms"), "max_delay", "0.0994 s (99.4 steps)", "0.099", None),
        (dict(**DELAYS, duration="30ms", max_delay="29.5ms"), "max_delay", "0.0295 s (29.5 steps)", "0.029", None),
        (dict(**DELAYS, max_delay="98.6ms"), "max_delay", "0.0986 s (98.6 steps)", "0.098", "0.099"),
        (dict(**DELAYS, max_delay="2.5ms"), "max_delay", "0.0025 s (2.5 steps)", "0.002", "0.003"),
        (dict(**DELAYS, study="bmi", max_delay="1.5ms"), "max_delay", "0.0015 s (1.5 steps)", "0.001", "0.002"),
        # two steps are the least: a duration below them is offered those alone, not 0 s, which is refused
        (dict(duration="0.4ms", neuron="standard"), "duration", "0.0004 s (0.4 steps)", None, "0.002"),
        (dict(duration="1.5ms", neuron="standard"), "duration", "0.0015 s (1.5 steps)", None, "0.002"),
        (dict(duration="2.5ms", neuron="standard"), "duration", "0.0025 s (2.5 steps)", "0.002", "0.003"),
    ],
)
def test_a_duration_that_is_no_whole_number_of_steps_is_refused(settings, name, given, lo, hi):
    """A duration simulated as a number of steps of dt is refused where it is none (it was
    rounded silently, so that the file named a duration the run did not simulate)."""
    dt = coerce("dt", settings.get("dt", "1ms"))
    with pytest.raises(ConfigError) as info:
        RunConfig(**settings)
    offered = [v for v in (lo, hi) if v is not None]
    assert str(info.value) == (f"{flag(name)}: must be a whole number of steps of dt={dt:g} s, got {given}: "
                               f"give {' s or '.join(offered)} s")  # fmt: skip
    for value in offered:  # each one offered is taken
        RunConfig(**{**settings, name: float(value)})
    if lo is None:
        assert RunConfig(**{**settings, name: float(hi)}).steps == 2
    # a whole number of steps, in float (0.1 / 0.001 = 100.00000000000001; 333 * 0.3 ms) is taken
    assert RunConfig(duration=0.1).steps == 100 and RunConfig(dt="0.3ms", duration=333 * 0.0003).steps == 333
    assert RunConfig(**DELAYS, max_delay=0.007).delay_steps == 7
    # two steps are the least, counted in steps (2 * 0.05 ms is 9.999999999999999e-05 s in float)
    assert RunConfig(dt="0.05ms", duration="100us", neuron="standard").steps == 2


@pytest.mark.parametrize(
    "settings, accepted",
    [
        (dict(max_delay="99ms"), True),  # 99 steps: the first step's input reaches the last (100th) step
        (dict(max_delay="100ms"), False),  # the kernel's last lag would only ever see the zeros before the stimulus
        (dict(max_delay="1000s"), False),
        (dict(max_delay="0.5ms"), False),  # less than one step
        (dict(max_delay="49.5ms", dt="0.5ms", duration="50ms"), True),
        (dict(max_delay="50ms", dt="0.5ms", duration="50ms"), False),
        (dict(study="bmi", max_delay="22ms"), True),  # 22 of a BMI sample's 23 steps
        (dict(study="bmi", max_delay="23ms"), False),
    ],
)
def test_max_delay_is_at_most_the_last_step_of_a_sample(settings, accepted):
    from snnsim.config import BMI_STEPS, coerce

    given = coerce("max_delay", settings["max_delay"])
    ok = RunConfig(**{**DELAYS, **settings, "max_delay": "1ms"})  # the same sample, the smallest delay
    steps = ok.steps if ok.study == "ipd" else BMI_STEPS
    if accepted:
        cfg = RunConfig(**DELAYS, **settings)
        assert 1 <= cfg.delay_steps == round(given / cfg.dt) <= steps - 1
        return
    with pytest.raises(ConfigError) as info:
        RunConfig(**DELAYS, **settings)
    message = str(info.value)
    assert message.startswith(f"--max-delay: must be in {ok.dt:g}..{(steps - 1) * ok.dt:g} s, 1 to {steps - 1} "
                              f"steps of dt={ok.dt:g} s (an input delayed by {steps} steps or more")  # fmt: skip
    bins = "" if ok.study == "ipd" else f"; a BMI step is one 50 ms bin whatever --dt: {given:g} s is a delay of "
    bins += f"{round(given / ok.dt)} bins" if bins else ""
    assert message.endswith(f"never reaches the network), got {given:g} s{bins}") and "\n" not in message


@pytest.mark.parametrize("dt,given,bins", [("1ms", "30ms", 30), ("2ms", "60ms", 30), ("0.5ms", "12ms", 24)])
def test_max_delay_says_a_bmi_step_is_a_bin(dt, given, bins):
    """--max-delay is a duration of steps of --dt for both studies; a BMI step is one 50 ms bin
    whatever --dt, so its help and a BMI refusal say how many bins the delay is (not only seconds)."""
    from snnsim.config import describe

    assert "BMI: one step per 50 ms bin whatever --dt, so 20ms at --dt 1ms delays by up to 20 bins" in describe(
        "max_delay"
    )
    with pytest.raises(ConfigError) as info:
        RunConfig(**DELAYS, study="bmi", dt=dt, max_delay=given)
    assert str(info.value).endswith(f"; a BMI step is one 50 ms bin whatever --dt: {coerce('max_delay', given):g} s "
                                    f"is a delay of {bins} bins")  # fmt: skip
    with pytest.raises(ConfigError) as ipd:  # an IPD step is dt of the stimulus: no bins
        RunConfig(**DELAYS, dt=dt, max_delay="1s")
    assert "bin" not in str(ipd.value)


def test_bmi_steps_are_those_of_the_bmi_encoder():
    """config.BMI_STEPS (which must not import torch) is the spiking decoder's steps with delays."""
    from snnsim.config import BMI_STEPS
    from snnsim.datasets.bmi import N_BINS
    from snnsim.encoders.bmi import PAD
    from snnsim.studies.bmi import steps_of

    assert BMI_STEPS == N_BINS + PAD == steps_of(RunConfig(study="bmi", **DELAYS))


def test_the_help_of_every_duration_says_it_takes_a_unit():
    """``--duration`` and ``--max-delay`` said "in whole steps of dt (default 100ms)": a number of
    steps, it read, yet a bare number is refused (a duration needs its unit)."""
    from snnsim.config import describe

    durations = [n for n in field_names() if metadata(n)["kind"] in ("duration", "span")]
    assert {"tau", "dt", "duration", "max_delay"} <= set(durations)
    for name in durations:
        assert "with a unit" in describe(name), (flag(name), describe(name))


def test_the_help_of_the_durations_of_a_bmi_network_says_a_step_is_a_bin():
    """The BMI spiking decoder runs one step of ``dt`` per 50 ms bin (``--encoding bins``; a held
    step with ``window``), so its durations count in steps, not in time of the recording:
    ``--tau 20ms`` at ``--dt 1ms`` is 20 bins, a second of it. ``--max-delay``'s help said so;
    ``--dt``'s, ``--tau``'s, ``--tau-syn``'s and ``--tau-adapt``'s read as times of the recording."""
    from snnsim.config import describe

    durations = [n for n in field_names() if metadata(n)["kind"] in ("duration", "span")
                 and "bmi" in metadata(n)["studies"] and "snn" in metadata(n)["models"]]  # fmt: skip
    assert {"tau", "dt", "tau_syn", "tau_adapt", "max_delay"} <= set(durations)
    assert "one 50 ms bin" in describe("dt") and "--window-steps" in describe("dt"), describe("dt")
    for name in durations:
        assert "BMI" in describe(name) and ("--dt" in describe(name) or name == "dt"), (flag(name), describe(name))


def test_the_help_of_target_gives_each_variables_unit():
    """``--target``'s help listed the arm variables without their units, which the result file's
    ``y_true``, ``y_pred`` and RMSE carry (rad/s for the default ``dtheta``): each variable's
    unit (``snnsim.studies.bmi.UNITS``) is in the help now."""
    from snnsim.config import BMI_TARGETS, describe
    from snnsim.studies.bmi import UNITS

    assert set(UNITS) == set(BMI_TARGETS)
    text = describe("target")
    for target, unit in UNITS.items():
        assert f"{target} ({unit})" in text, (target, text)


def test_the_help_of_a_setting_the_ann_reads_says_what_it_is_there():
    """``--hidden`` read "hidden LIF neurons", while ``--model ann`` reads it as its ELU units
    (docs/bmi.md: "960 z-scored inputs -> ``--hidden`` ELU units"): a setting the ANN reads whose
    help speaks of the spiking network says what it is for the ANN."""
    from snnsim.config import describe

    read_by_ann = [n for n in field_names() if "ann" in metadata(n)["models"] and metadata(n)["studies"] != ("ipd",)]
    assert "hidden" in read_by_ann
    for name in read_by_ann:
        text = describe(name)
        if re.search(r"\bLIF\b|spik", text):
            assert "--model ann" in text and "ELU" in text, (flag(name), text)


# Every check across settings whose message names another setting by its flag, with the key form an
# experiment file, a tune spec or a run's config file gives it in (config.as_keys).
ACROSS = [
    (dict(tau_syn="5ms"), 'add neuron = "standard"'),
    (dict(duration="3ms"), 'give more steps, or neuron = "standard"'),
    (dict(rate_max_hz=2000), "(or a smaller dt)"),
    (dict(tau_adapt="50ms", neuron="standard"), 'runs on backend = "norse" or "fused" only'),
    (dict(study="bmi", readout="last", readout_units=2), 'use it with readout = "weighted"'),
    (dict(study="bmi", window_steps=4), 'a setting of encoding = "window"; add it'),
    (dict(study="bmi", model="ann", input_rank=4), 'spiking decoder (model = "snn"), not of model = "ann"'),
    (dict(study="bmi", input_rank=100), 'at most the 48 inputs of encoding = "bins", got 100'),
    (dict(study="bmi", encoding="window", delays="fixed", neuron="standard", backend="norse"),
     'encoding = "window" holds one input'),
    (dict(backend="norse", tau=1e14), 'use backend = "snntorch" or "fused", or a shorter tau'),
    (dict(learn_tau=True, neuron="standard", backend="norse", tau="1s"), "with learn_tau = true, must be below"),
    (dict(adapt_jump=0.2), "a setting of tau_adapt, which is off; set tau_adapt too"),
    (dict(delays="fixed", neuron="standard", backend="norse", max_delay="200ms"), "the whole stimulus of duration 0.1 s"),
    (dict(study="bmi", delays="fixed", neuron="standard", backend="norse", max_delay="30ms"),
     "a BMI step is one 50 ms bin whatever dt:"),
]  # fmt: skip


@pytest.mark.parametrize("settings, keyed", ACROSS, ids=[str(s) for s, _ in ACROSS])
def test_a_refusal_across_settings_names_them_as_keys_in_a_file(settings, keyed):
    """A refusal names the other settings it needs by their flags (``add --neuron standard``), as
    ``python -m snnsim.run`` takes them; :func:`~snnsim.config.as_keys` names them as a file's keys
    with their values as the file writes them (``add neuron = "standard"``), no flag left."""
    from snnsim.config import as_keys

    with pytest.raises(ConfigError) as info:
        RunConfig(**settings)
    message = info.value.message
    assert re.search(r"(?<![\w-])--[a-z]", message), message  # the CLI's message names flags
    keys = as_keys(message)
    assert keyed in keys, keys
    assert not re.search(r"(?<![\w-])--[a-z]", keys), keys


def test_as_keys_leaves_other_flags_values_and_paths():
    """Only the flags of settings become keys: a flag of a command (``--pack``) stays, a value that is
    not one of a choice's stays as it was, and so does a path that holds a flag's letters."""
    from snnsim.config import as_keys

    assert as_keys("a smaller --pack, or --batch-size") == "a smaller --pack, or batch_size"
    assert as_keys("set --tau-adapt too") == "set tau_adapt too"
    assert as_keys("--backend gpu or fused") == "backend gpu or fused"
    assert as_keys("no file at my--data.pkl or ./--neuron") == "no file at my--data.pkl or ./--neuron"
    assert as_keys("--phase per-dataset, --no-batch-repeats") == 'phase = "per-dataset", --no-batch-repeats'
    # a file's value quoted in the text stays as the file gives it, the flags around it become keys
    assert as_keys("--data: --data notes.pkl is a text file; give --data", keep=["--data notes.pkl", 3]) == (
        "data: --data notes.pkl is a text file; give data"
    )
    # a message's lead names the setting itself, a switch too (a job's failure text), not its value
    assert as_keys("--learn-tau: runs on --backend norse only") == 'learn_tau: runs on backend = "norse" only'


@pytest.mark.parametrize(
    "settings, message",
    [
        # inverted dropout divides the kept inputs by 1 - p: p = 1 zeroes every input and divides by 0
        (dict(study="bmi", dropout=1.0), "--dropout: must be below 1"),
        (dict(study="bmi", input_rank=49), "--input-rank: at most the 48 inputs of --encoding bins, got 49"),
        (dict(rate_target=5.0), "--rate-target: a setting of --rate-reg, which is off"),
        (dict(duration="1ms", neuron="standard"), "--duration: must hold at least two steps of dt=0.001 s"),
        (dict(duration="1000.001s"), "--duration: must hold at most 1,000,000 steps of dt=0.001 s"),
    ],
)
def test_a_setting_just_past_its_bound_is_refused(settings, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        RunConfig(**settings)


@pytest.mark.parametrize(
    "settings",
    [
        dict(study="bmi", dropout=0.999),
        dict(study="bmi", input_rank=48),
        dict(duration="2ms", neuron="standard"),
        dict(duration="1000s"),
    ],  # fmt: skip
)
def test_a_setting_at_its_bound_is_taken(settings):
    RunConfig(**settings)


@pytest.mark.parametrize("dims, want", [("0,0", (0,)), (["all", 1], (0, 1)), ([1, "1", 0], (1, 0))])
def test_an_output_column_given_twice_is_decoded_once(dims, want):
    """A column named twice (``--dim 0 --dim 0``, ``all`` and ``1``) is one output, not two
    outputs of the same name in the result file."""
    assert RunConfig(study="bmi", dims=dims).dims == want
