"""The model space through the config, the CLI and both studies: one-line refusals, result
files that carry every trained tensor, the firing-rate penalty and BMI dropout."""

import numpy as np
import pytest
import torch
import xarray as xr

from snnsim import results, runner
from snnsim.config import RunConfig
from snnsim.errors import ConfigError
from snnsim.training import rate_penalty

LIB = dict(backend="norse", neuron="standard")


@pytest.mark.parametrize(
    "settings,message",
    [
        (
            dict(hidden="16,16", recurrent=True, backend="fused", neuron="standard"),
            "--recurrent: runs on --backend snntorch or norse only",
        ),
        (
            dict(tau_adapt="50ms", backend="snntorch", neuron="standard"),
            "--tau-adapt: runs on --backend norse or fused only",
        ),
        (dict(recurrent=True, backend="norse"), "--recurrent: the model-space neurons step as the libraries'"),
        # both refusals in one line: the backend's alone asked for a second try to learn of the neuron's
        (
            dict(tau_adapt="50ms", backend="snntorch", neuron="notebook"),
            "^--tau-adapt: runs on --backend norse or fused only, with --neuron standard; the snntorch backend "
            "does not carry it, and the notebook neuron .*: give --backend norse or fused and --neuron standard$",
        ),
        # the combination the line gives runs: tau_syn's snntorch would refuse tau_adapt
        (
            dict(tau_syn="5ms", tau_adapt="50ms", backend="fused", neuron="notebook"),
            "^--tau-syn: runs on --backend snntorch or norse only, with --neuron standard; .*: give --backend "
            "norse and --neuron standard$",
        ),
        # every option's backend before the neuron: "add --neuron standard" alone, and delays then refused fused
        (
            dict(tau_adapt="50ms", delays="learned", backend="fused", neuron="notebook"),
            "^--delays: runs on --backend snntorch or norse only, with --neuron standard; .*: give --backend norse "
            "and --neuron standard$",
        ),
        # a BMI decoder that is no spiking network is named first: no backend or neuron would run it
        (dict(study="bmi", model="linear", tau_adapt="50ms"), "--tau-adapt: a setting of the spiking decoder"),
        (dict(delays="learned", backend="fused"), "--delays: runs on --backend snntorch or norse only"),
        (dict(adapt_jump=1.0), "--adapt-jump: a setting of --tau-adapt, which is off"),
        (dict(max_delay="5ms"), "--max-delay: a setting of --delays, which is off"),
        (dict(study="bmi", model="ann", learn_tau=True, **LIB), "--learn-tau: a setting of the spiking decoder"),
        (dict(hidden="8,x"), "--hidden: expected layer sizes"),
        (dict(tau_syn="-2ms"), "--tau-syn: duration must be positive"),
        (dict(dropout=0.1), "--dropout: a setting of the bmi study"),
        (dict(study="bmi", dropout=1.5), "--dropout: must be below 1"),
        # a decay above the clamp of the learned decays would run at the clamp, with no gradient
        (dict(learn_tau=True, tau="2s", **LIB), r"--tau: with --learn-tau, must be below 0\.9995 s"),
        (dict(learn_tau=True, tau="0.9995s", **LIB), r"--tau: with --learn-tau, must be below 0\.9995 s"),
    ],
)
def test_refusals_name_the_flag(settings, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(**settings)


def test_cli_refusal_is_one_line(capsys):
    from snnsim.run import main

    assert main(["--tau-syn", "5ms", "--backend", "fused", "--neuron", "standard"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["snnsim.run: error: --tau-syn: runs on --backend snntorch or norse only; the fused backend does "
                   "not carry it"]  # fmt: skip


def test_the_backend_and_neuron_a_refusal_gives_run_every_model_space_option():
    """Every pair of model-space options on a backend that does not carry the first, with the
    notebook neuron: the backend and neuron the line gives make a config that is accepted."""
    import itertools
    import re

    on = dict(hidden="8,8", tau_syn="5ms", recurrent=True, learn_tau=True, tau_adapt="50ms", delays="learned")
    for (a, va), (b, vb) in itertools.combinations(on.items(), 2):
        for backend in ("snntorch", "norse", "fused"):
            settings = {a: va, b: vb, "backend": backend, "neuron": "notebook"}
            try:
                RunConfig(**settings)
            except ConfigError as exc:
                given = re.search(r"give --backend (\w+)(?: or \w+)? and --neuron standard$", str(exc))
                if given:
                    RunConfig(**(settings | {"backend": given[1], "neuron": "standard"}))  # raises nothing
                elif str(exc).endswith("add --neuron standard"):
                    RunConfig(**(settings | {"neuron": "standard"}))  # raises nothing


def test_hidden_sizes_round_trip():
    cfg = RunConfig(hidden="16,8", **LIB)
    assert cfg.hidden == (16, 8) and cfg.hidden_sizes == (16, 8)
    assert RunConfig.from_json(cfg.to_json()) == cfg
    assert RunConfig(hidden="12").hidden == 12 and RunConfig(hidden=[12]).hidden_sizes == (12,)


def test_rate_penalty_golden():
    # 2 models, 1 sample, 4 steps of 10 ms, 2 neurons: rates 50/25 Hz and 0/100 Hz; target 50 Hz
    s = torch.tensor([[[[1, 1], [0, 0], [0, 0], [1, 0]]], [[[0, 1], [0, 1], [0, 1], [0, 1]]]], dtype=torch.float64)
    cfg = RunConfig(rate_reg=2.0, rate_target=50.0)
    got = rate_penalty(s, cfg, 0.01)
    # model 0: ((50-50)/50)^2 = 0, ((25-50)/50)^2 = 0.25 -> 2 * 0.125; model 1: 1 and 1 -> 2 * 1
    torch.testing.assert_close(got, torch.tensor([0.25, 2.0], dtype=torch.float64))


def test_rate_penalty_takes_the_rate_over_the_whole_mini_batch():
    """r is a neuron's rate over all the mini-batch's samples, squared once: 1 model, 2 samples
    of 2 steps of 10 ms, 2 neurons, target 50 Hz. Neuron 0 fires at 100 Hz in sample 0 and not in
    sample 1: 50 Hz, no penalty; neuron 1 at 100 and 50 Hz: 75 Hz, ((75-50)/50)^2 = 0.25; 2 * the
    mean 0.125 = 0.25 (by hand). Penalising each sample's rate, (1 + 1) / 2 and (1 + 0) / 2, would
    give 2 * 0.75 = 1.5."""
    s = torch.tensor([[[[1, 1], [1, 1]], [[0, 1], [0, 0]]]], dtype=torch.float64)  # (M, B, T, N)
    got = rate_penalty(s, RunConfig(rate_reg=2.0, rate_target=50.0), 0.01)
    torch.testing.assert_close(got, torch.tensor([0.25], dtype=torch.float64))


def test_ipd_model_space_result_file_and_costs(tmp_path):
    cfg = RunConfig(hidden="8,6", recurrent=True, tau_syn="5ms", tau_adapt="50ms", learn_tau=True, delays="learned",
                    max_delay="4ms", rate_reg=0.1, tau="5ms", epochs=2, n_train_batches=2, n_test_batches=1,
                    batch_size=16, repeats=2, **LIB)  # fmt: skip
    ds = runner.run(cfg, progress=False)
    shapes = {name: ds[name].shape[1:] for name in ds.data_vars}
    assert shapes["w1"] == (200, 8) and shapes["w_hidden1"] == (8, 6) and shapes["w2"] == (6, 12)
    assert shapes["w_recurrent0"] == (8, 8) and shapes["w_recurrent1"] == (6, 6)
    assert shapes["alpha_hidden0"] == (8,) and shapes["input_delay"] == (200,)
    alpha = ds["alpha_hidden0"].values
    assert not np.allclose(alpha, np.exp(-1 / 5)) and (alpha <= 0.999).all()  # trained, within the clamp
    delays = ds["input_delay"].values
    assert (delays >= 0).all() and (delays <= 4).all()
    weights = 200 * 8 + 8 * 6 + 6 * 12 + 8 * 8 + 6 * 6
    np.testing.assert_array_equal(ds["n_params"].values, weights + 8 + 6 + 200)
    assert np.isfinite(ds["test_acc"].values).all() and (ds["hidden_rate_hz"].values > 0).all()
    path = results.write(ds, tmp_path / "ms.h5")
    assert results.config_of(results.load(path)) == cfg
    with xr.open_dataset(path, engine="h5netcdf") as opened:  # the delays' units, as xarray users read them
        assert opened["input_delay"].attrs["units"] == "steps", opened["input_delay"].attrs


def test_bmi_dropout_and_model_space_batched_equals_alone(bmi_path):
    cfg = RunConfig(study="bmi", data=bmi_path, hidden="8,4", recurrent=True, learn_tau=True, tau="2ms",
                    dropout=0.3, readout="last", epochs=2, batch_size=128, n_train_folds=2, patience=2, repeats=2,
                    backend="snntorch", neuron="standard")  # fmt: skip
    a = runner.run(cfg, progress=False)
    b = runner.run(cfg.replace(batch_repeats=False), progress=False)
    for name in ("y_pred", "loss", "w1", "w_hidden1", "w_recurrent0", "alpha_hidden1"):
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    plain = runner.run(cfg.replace(dropout=0.0, repeats=1), progress=False)
    assert not np.array_equal(plain["w1"].values[0], a["w1"].values[0])


def test_bmi_input_delays_are_written_with_their_units(bmi_path, tmp_path):
    """A BMI decoder's delays are counted in steps of one 50 ms bin, as IPD's in steps of dt."""
    cfg = RunConfig(study="bmi", data=bmi_path, delays="learned", max_delay="3ms", hidden=4, epochs=1,
                    batch_size=128, n_train_folds=1, **LIB)  # fmt: skip
    path = results.write(runner.run(cfg, progress=False), tmp_path / "bmi.h5")
    with xr.open_dataset(path, engine="h5netcdf") as opened:
        assert opened["input_delay"].attrs["units"] == "steps" and (opened["input_delay"].values <= 3).all()


def test_model_space_registry_names_config_fields():
    from snnsim.backends import BACKENDS, MODEL_SPACE
    from snnsim.config import field_names

    assert set(MODEL_SPACE) <= set(field_names())
    assert all(set(b) <= set(BACKENDS) and b for b in MODEL_SPACE.values())


DELAY_RUN = ["--epochs", "1", "--n-train-batches", "1", "--n-test-batches", "1", "--quiet", "--delays", "learned",
             "--neuron", "standard"]  # fmt: skip

#: Peak memory (bytes; the growth of VmHWM, the process's peak resident set, which unlike
#: ru_maxrss starts afresh in a new program) of one forward and backward pass of learned delays
#: on (1, B, T, 200) inputs, after a small pass that loads the kernels.
MEASURE = """
import sys, torch
from snnsim.functional.delay import delay
from snnsim.runner import peak_memory as peak
def once(b, t, d):
    x = (torch.rand(1, b, t, 200, generator=torch.Generator().manual_seed(0)) < 0.1).float()
    lag = (torch.rand(1, 200, generator=torch.Generator().manual_seed(1)) * d).requires_grad_()
    delay(x, lag, d).sum().backward()
once(2, 4, 2)
b, t, d = map(int, sys.argv[1:])
base = peak()
once(b, t, d)
print(peak() - base)
"""


def test_memory_estimate_counts_the_delay_steps():
    """The estimate grows with --max-delay and is of the order of the measured peak of the
    delays' pass (the inputs padded by the delay's steps): 1.3-2x it where measured."""
    import os
    import subprocess
    import sys

    from snnsim.studies.bmi import STUDY as BMI
    from snnsim.studies.ipd import STUDY as IPD

    def work(of, **settings):
        return of.memory_bytes(RunConfig(**settings))[1]

    ipd = dict(duration="1s", batch_size=8, **LIB)
    none = work(IPD, **ipd)
    short, long = (work(IPD, delays="learned", max_delay=d, **ipd) for d in ("1ms", "999ms"))
    assert none < short < long
    bmi = dict(study="bmi", **LIB)
    assert work(BMI, **bmi) < work(BMI, delays="fixed", max_delay="1ms", **bmi) < work(BMI, delays="fixed",
                                                                                       max_delay="22ms", **bmi)  # fmt: skip
    if not os.path.exists("/proc/self/status"):
        pytest.skip("measures the peak resident set in /proc/self/status (Linux)")
    measured = int(subprocess.run([sys.executable, "-c", MEASURE, "8", "1000", "999"], capture_output=True, text=True,
                                  check=True, timeout=120).stdout)  # fmt: skip
    assert 0.8 * measured <= long - none <= 4 * measured, (measured, long - none)  # rough, as the check is


def test_cli_max_delay_beyond_the_stimulus_exits_2_at_once(tmp_path):
    """The audit's run (--max-delay 1000s: a million-step kernel, >10 GB and minutes) is refused
    in one line before any work."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "snnsim.run", *DELAY_RUN, "--batch-size", "8", "--max-delay",
                           "1000s"], capture_output=True, text=True, cwd=tmp_path, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("snnsim.run: error: --max-delay: must be in 0.001..0.099 s, 1 to 99 steps")
    assert "got 1000 s" in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_memory_check_refuses_a_large_allowed_delay(monkeypatch, capsys):
    """A delay within the bound but with a large batch: refused by the memory check, which would
    let the same run without delays through."""
    from snnsim.run import main

    settings = dict(duration="1s", batch_size=4096, n_train_batches=1, n_test_batches=1, **LIB)
    cfgs = [RunConfig(**settings), RunConfig(delays="learned", max_delay="999ms", **settings)]
    need = [runner.estimate_memory([c], runner.plan([c])) for c in cfgs]
    free = (need[0] + need[1]) / 2 / 0.8  # the runner asks for at most 80% of the memory available
    assert need[0] < 0.8 * free < need[1]
    monkeypatch.setattr(runner, "available_memory", lambda: int(free))
    runner.check_memory(cfgs[:1], runner.plan(cfgs[:1]))
    argv = [*DELAY_RUN, "--backend", "norse", "--duration", "1s", "--batch-size", "4096", "--max-delay", "999ms"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "GB of memory" in err, err


def test_learned_decays_start_at_the_longest_tau_allowed_and_learn():
    """The longest --tau that --learn-tau accepts starts the learned decays at its own decay (not the
    clamp) and gives them a gradient (above it the clamp would hold them fixed: refused above)."""
    import math

    import torch

    from snnsim.backends import ALPHA_MAX, make_backend
    from snnsim.functional.lif import LIFParameters
    from snnsim.network import Architecture, Decoder
    from snnsim.readouts import get_readout

    cfg = RunConfig(learn_tau=True, tau="0.9994s", **LIB)
    assert cfg.alpha <= ALPHA_MAX
    p = LIFParameters(cfg.alpha, 1.0, 5.0, "standard")
    model = Decoder(5, 4, 3, make_backend("snntorch"), get_readout("mean"), p, "fan-in",
                    [torch.Generator().manual_seed(0)], Architecture((4,), learn_tau=True)).double()  # fmt: skip
    with torch.no_grad():
        model.w1.mul_(4)
    x = (torch.rand(1, 3, 20, 5, generator=torch.Generator().manual_seed(1)) < 0.5).double()
    model.read(model(x)).pow(2).sum().backward()
    assert math.isclose(model.decays[0][0, 0, 0].item(), cfg.alpha, rel_tol=1e-7)  # float32 parameters
    assert model.decays[0].grad.abs().min() > 0
