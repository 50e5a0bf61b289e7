"""``python -m snnsim.export``: a trained model to NIR (and torch.save), and the NIR graph read by
Norse and snnTorch reproduces snnsim's spikes and membranes on the same input.

Both libraries' importers build one-step modules (the tests loop over time) and neither maps
``nir.LI`` (Norse's ``from_nir`` drops the node, snnTorch's raises), so the loaders below add an
LI mapping with each library's own leaky integrator.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from in_process import run_here
from signalled_write import signal_in_write, signal_once_written

from snnsim import results
from snnsim import run as run_cli
from snnsim.backends import make_backend
from snnsim.config import RunConfig
from snnsim.export import NIR_DT
from snnsim.functional.lif import LIFParameters
from snnsim.network import Decoder
from snnsim.readouts import get_readout

nir = pytest.importorskip("nir")
nirtorch = pytest.importorskip("nirtorch")
ROOT = Path(__file__).resolve().parents[1]
TINY = ["--backend", "snntorch", "--neuron", "standard", "--epochs", "1", "--n-train-batches", "2", "--n-test-batches",
        "1", "--batch-size", "8", "--hidden", "10", "--quiet"]  # fmt: skip


def load_norse(graph):
    make_backend("norse")  # loads Norse without its jit.script deprecation warnings
    from norse.torch.module.leaky_integrator_box import LIBoxCell, LIBoxParameters
    from norse.torch.utils.import_nir import _import_norse_module

    class LI(torch.nn.Module):
        def __init__(self, node):
            super().__init__()
            r, tau, leak = (torch.from_numpy(np.asarray(a, np.float32)) for a in (node.r, node.tau, node.v_leak))
            self.register_buffer("r", r)
            self.cell = LIBoxCell(LIBoxParameters(tau_mem_inv=1 / tau, v_leak=leak), dt=NIR_DT)

        def forward(self, x, state=None):
            return self.cell(self.r * x, state)

    def node_map(node):
        if isinstance(node, nir.LI):
            return LI(node)
        return _import_norse_module(node, ignore_warnings=True, dt=NIR_DT)  # what norse.torch.from_nir uses

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return nirtorch.load(graph, node_map)


def load_snntorch(graph):
    import snntorch as snn
    from snntorch.import_nir import _nir_to_snntorch_module

    class LI(torch.nn.Module):  # snnTorch's conventions: dt = 1e-4, beta = 1 - dt/tau, input gain r dt/tau
        def __init__(self, node):
            super().__init__()
            tau = np.asarray(node.tau, np.float64)
            self.register_buffer("gain", torch.tensor(np.asarray(node.r) * NIR_DT / tau, dtype=torch.float32))
            self.leaky = snn.Leaky(beta=torch.tensor(1 - NIR_DT / tau, dtype=torch.float32), reset_mechanism="none",
                                   init_hidden=True)  # fmt: skip

        def forward(self, x):
            self.leaky(self.gain * x)
            return self.leaky.mem

    def to_module(node):  # what snntorch.import_nir.import_from_nir uses
        return _nir_to_snntorch_module(node, init_hidden=True)

    return nirtorch.nir_to_torch(graph, {nir.Linear: to_module, nir.LIF: to_module, nir.LI: LI})


@torch.no_grad()
def run_graph(lib: str, graph, x: torch.Tensor):
    """x (B, T, in) -> the graph's hidden spikes and output, (B, T, .), one call per step."""
    model = load_norse(graph) if lib == "norse" else load_snntorch(graph)
    hidden, outs, state = [], [], None
    if lib == "snntorch":
        hook = model.lif1.register_forward_hook(lambda m, i, o: hidden.append(o.clone()))
    for t in range(x.shape[1]):
        out, state = model(x[:, t], state)
        outs.append(out.clone())
        if lib == "norse":
            hidden.append(state.cache["lif1"].clone())
    if lib == "snntorch":
        hook.remove()
    return torch.stack(hidden, 1), torch.stack(outs, 1)


def snnsim_records(ds, x: torch.Tensor):
    """The trained model of a result file, run by snnsim on x (B, T, in)."""
    cfg = RunConfig.from_json(ds.attrs["config"])
    params = LIFParameters(alpha=cfg.alpha, v_th=cfg.threshold, slope=cfg.surrogate_slope, neuron=cfg.neuron)
    model = Decoder(x.shape[-1], cfg.hidden, cfg.n_classes, make_backend(cfg.backend), get_readout(cfg.readout),
                    params, cfg.init, [torch.Generator()])  # fmt: skip
    with torch.no_grad():
        model.w1.copy_(torch.from_numpy(ds.w1.values[:1]))
        model.w2.copy_(torch.from_numpy(ds.w2.values[:1]))
        return model(x[None])


def export(args, tmp_path, own_process: bool = False):
    """``python -m snnsim.export ARGS``: in this process (in_process.run_here), or with
    ``own_process`` in a process of its own as a user runs it."""
    from snnsim import export as export_cli

    if not own_process:
        return run_here(export_cli.main, *args, cwd=ROOT)
    return subprocess.run([sys.executable, "-m", "snnsim.export", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)  # fmt: skip


def predict(*args):
    """``python -m snnsim.predict ARGS`` in this process (tests/test_predict.py runs it as a process)."""
    from snnsim import predict as predict_cli

    return run_here(predict_cli.main, *args, cwd=ROOT)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Result files of tiny standard-neuron and notebook-neuron trainings, through the CLI."""
    folder = tmp_path_factory.mktemp("export")
    files = {}
    for readout in ("mean", "fr"):
        for neuron in ("standard", "notebook"):
            out = folder / f"{readout}-{neuron}.h5"
            args = [a if a != "standard" else neuron for a in TINY]
            assert run_cli.main([*args, "--readout", readout, "--tau", "5ms", "--out", str(out)]) == 0  # in-process
            files[readout, neuron] = out
    return files


def stimuli(seed: int = 3, n: int = 4) -> torch.Tensor:
    from snnsim.studies.ipd import make_stimuli

    cfg = RunConfig(batch_size=n, n_test_batches=1)
    return make_stimuli(cfg, seed, torch.device("cpu"), "test").spikes.float()


@pytest.mark.parametrize("lib", ["norse", "snntorch"])
@pytest.mark.parametrize("readout", ["mean", "fr"])
@pytest.mark.xdist_group("export-trained")  # the trained files, made once on one xdist worker
def test_the_nir_graph_reproduces_snnsim_in_norse_and_snntorch(trained, lib, readout, tmp_path):
    ds = results.load(trained[readout, "standard"])
    proc = export([str(trained[readout, "standard"]), "--format", "nir", "--out", str(tmp_path / "net.nir")], tmp_path)
    assert proc.returncode == 0, proc.stderr
    graph = nir.read(str(tmp_path / "net.nir"))
    assert graph.metadata["readout"] == readout and graph.metadata["neuron"] == "standard"
    x = stimuli()
    hidden, out = run_graph(lib, graph, x)
    rec = snnsim_records(ds, x)
    assert rec.hidden_spikes.sum() > 0  # the case is not vacuous
    assert torch.equal(hidden, rec.hidden_spikes[0])
    if readout == "fr":
        assert torch.equal(out, rec.out_spikes[0])
    else:
        torch.testing.assert_close(out, rec.out_membrane[0], rtol=1e-5, atol=1e-4)


@pytest.mark.xdist_group("export-trained")  # the trained files, made once on one xdist worker
def test_the_notebook_neuron_agrees_until_the_first_hidden_spike(trained, tmp_path):
    """The notebook neuron (spike from the pre-update membrane, reset a step later) has no NIR
    node: its graph equals snnsim's network, two steps later, until each hidden neuron's first
    spike; the metadata says so."""
    from snnsim.export import model_of, network_to_nir

    ds = results.load(trained["mean", "notebook"])
    m = model_of(trained["mean", "notebook"], None)  # the CLI refuses it (below): the graph it would be
    graph = network_to_nir(m["w1"], m["w2"], m["alpha"], m["threshold"], m["readout"], m["neuron"], m["dt"])
    assert "first spike" in graph.metadata["neuron_model"]
    x = stimuli()
    hidden, _ = run_graph("norse", graph, x)
    sim = snnsim_records(ds, x).hidden_spikes[0][:, 2:]
    nir_spikes = hidden[:, :-2]
    before_first = (torch.cumsum(nir_spikes, 1) - nir_spikes) == 0
    assert nir_spikes[before_first].sum() > 0
    assert torch.equal(sim[before_first], nir_spikes[before_first])


@pytest.mark.xdist_group("export-trained")  # the trained files, made once on one xdist worker
def test_a_notebook_neuron_model_is_no_nir_graph(trained, tmp_path):
    """The notebook neuron (snnsim's default) has no NIR node: its graph was written, exit 0, and
    differed from the model after the first hidden spike (a tiny IPD run's test accuracy 18.8 %
    in Norse against 25.0 % stored; a BMI decoder's outputs off by 170 %). Now one line, exit 2,
    no file; the pt dict, which names its neuron, is still written."""
    path = trained["mean", "notebook"]
    out = tmp_path / "n.nir"
    refused = export([str(path), "--format", "nir", "--out", str(out)], tmp_path)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "--neuron notebook" in refused.stderr and "--format pt" in refused.stderr, refused.stderr
    assert not out.exists() and not list(tmp_path.iterdir())
    assert export([str(path), "--format", "pt", "--out", str(tmp_path / "n.pt")], tmp_path).returncode == 0
    assert torch.load(tmp_path / "n.pt")["neuron"] == "notebook"


@pytest.mark.xdist_group("export-trained")  # the trained files, made once on one xdist worker
def test_a_notebook_neuron_is_refused_before_torch_loads(trained, tmp_path):
    """The refusal of ``--format nir`` of a notebook-neuron model came after torch and nir had
    loaded (10.5 s on a loaded 2-core machine): it is read from the file's config, without torch
    (``sys.modules['torch'] = None`` makes every ``import torch`` fail)."""
    out = tmp_path / "n.nir"
    argv = [str(trained["mean", "notebook"]), "--format", "nir", "--out", str(out)]
    code = f"import sys; sys.modules['torch'] = None; from snnsim.export import main; sys.exit(main({argv!r}))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("snnsim.export: error: ") and "--neuron notebook" in proc.stderr, proc.stderr
    assert not out.exists()


@pytest.mark.xdist_group("export-trained")  # the trained files, made once on one xdist worker
def test_pt_export_and_one_line_errors(trained, tmp_path):
    """The first export and the first refusal in processes of their own, the rest in this one."""
    path = trained["mean", "standard"]
    assert export([str(path), "--format", "pt", "--out", str(tmp_path / "m.pt")], tmp_path, True).returncode == 0
    saved = torch.load(tmp_path / "m.pt")
    ds = results.load(path)
    np.testing.assert_array_equal(saved["w1"].numpy(), ds.w1.values[0])
    assert saved["readout"] == "mean" and saved["repeat"] == 0 and 0 < saved["alpha"] < 1
    taken = export([str(path), "--format", "pt", "--out", str(tmp_path / "m.pt")], tmp_path, True)
    assert taken.returncode == 2 and "exists" in taken.stderr and taken.stderr.count("\n") == 1
    bad = export([str(path), "--format", "pt", "--repeat", "3", "--out", str(tmp_path / "r.pt")], tmp_path)
    assert bad.returncode == 2 and "--repeat: 3 is not a repeat" in bad.stderr
    (tmp_path / "models").mkdir()
    folder = export([str(path), "--format", "nir", "--out", str(tmp_path / "models"), "--overwrite"], tmp_path)
    assert folder.returncode == 2 and folder.stderr.count("\n") == 1
    assert f"--out: {tmp_path / 'models'} is a folder; give a file name such as" in folder.stderr
    assert (tmp_path / "models").is_dir() and not any((tmp_path / "models").iterdir())
    slash = export([str(path), "--format", "pt", "--out", f"{tmp_path / 'new'}/"], tmp_path)
    assert slash.returncode == 2 and slash.stderr.count("\n") == 1 and "names a folder" in slash.stderr
    assert not (tmp_path / "new").exists()


@pytest.mark.xdist_group("export-trained")  # the trained files, made once on one xdist worker
def test_a_predictions_file_is_named_as_one(trained, tmp_path):
    """A predictions file given as the model: export said "no trained weights (w1, w2) of a single
    run" (IPD; "this bmi model is not a spiking network" for a ridge model's), not what it is, as
    predict and run --config say."""
    model = trained["mean", "standard"]
    made = tmp_path / "p.h5"
    assert predict(str(model), "--stimuli", "2", "--out", str(made)).returncode == 0
    ds = results.load(made)
    proc = export([str(made), "--format", "pt", "--out", str(tmp_path / "m.pt")], tmp_path)
    assert proc.returncode == 2 and proc.stderr == (
        f"snnsim.export: error: {made}: a predictions file (python -m snnsim.predict) of the model in "
        f"{ds.attrs['model']} (SHA-256 {ds.attrs['model_sha256'][:12]}...), not a trained model; give "
        f"{ds.attrs['model']}\n"
    ), proc.stderr
    assert not (tmp_path / "m.pt").exists()


def test_a_result_file_without_its_config_is_named_so(tmp_path):
    """A result file whose ``config`` attribute was removed (its weights kept): export said "no
    trained weights (w1, w2)", which it has; it names the missing config now, as predict does."""
    trained = tmp_path / "r.h5"
    assert run_cli.main([*TINY, "--out", str(trained)]) == 0
    ds = results.load(trained)
    del ds.attrs["config"]
    model = results.write(ds, tmp_path / "m.h5")
    assert "w1" in results.load(model)
    proc = export([str(model), "--format", "pt", "--out", str(tmp_path / "m.pt")], tmp_path)
    assert proc.returncode == 2 and proc.stderr == (
        f"snnsim.export: error: {model}: not the result file of one run (no config)\n"
    ), proc.stderr
    assert predict(str(model), "--out", str(tmp_path / "p.csv")).stderr == proc.stderr.replace("export", "predict")
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.xdist_group("export-trained")  # the trained files, made once on one xdist worker
def test_an_export_stopped_or_killed_in_its_write_leaves_no_temporary(trained, tmp_path):
    """SIGTERM (scancel) inside the write: exit 143, one line, no temporary (it was left beside
    --out for good, with no message); SIGKILL: the next export removes the killed one's temporary."""
    import signal

    out = tmp_path / "m.pt"
    args = [str(trained["mean", "standard"]), "--format", "pt", "--out", str(out)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        returncode, err = signal_in_write("snnsim.export", args, ".m.pt.*.tmp", tmp_path, sig)
        assert not out.exists()
        if sig == signal.SIGTERM:
            assert returncode == 128 + signal.SIGTERM, err
            assert err == "snnsim.export: stopped by SIGTERM; no result written\n"
            assert not list(tmp_path.glob(".m.pt.*.tmp"))
    assert len(list(tmp_path.glob(".m.pt.*.tmp"))) == 1  # the killed writer's
    done = export(args, tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"snnsim.export: removed 1 temporary file(s) of killed exports beside {out}" in done.stderr
    assert not list(tmp_path.glob(".m.pt.*.tmp")) and out.is_file()


@pytest.mark.xdist_group("export-trained")  # the trained files, made once on one xdist worker
def test_a_stop_once_the_export_is_in_place_names_it(trained, tmp_path):
    """SIGTERM once the file is in place (in the last step of its write, or as the command reads
    the model again for its line) said "no result written", exit 143, while the file was there,
    whole: a user told nothing was written found --out taken. The line names the file now."""
    import signal

    out = tmp_path / "m.pt"
    args = [str(trained["mean", "standard"]), "--format", "pt", "--out", str(out)]
    returncode, err = signal_once_written("snnsim.export", args, out, signal.SIGTERM)
    assert returncode == 128 + signal.SIGTERM, err
    assert err == f"snnsim.export: stopped by SIGTERM after writing {out}\n"
    assert out.is_file() and not list(tmp_path.glob(".m.pt.*.tmp"))


@pytest.mark.xdist_group("export-trained")  # the trained files, made once on one xdist worker
def test_a_stop_as_the_export_is_named_names_it(trained, tmp_path, monkeypatch):
    """SIGTERM after the write, as the command reads the model again for its line (a real signal):
    the line names the file written, exit 143."""
    import os
    import signal

    from snnsim import export as export_cli

    out, model_of = tmp_path / "m.pt", export_cli.model_of

    def stopped_once_written(*args, **kwargs):
        if out.exists():
            os.kill(os.getpid(), signal.SIGTERM)
        return model_of(*args, **kwargs)

    monkeypatch.setattr(export_cli, "model_of", stopped_once_written)
    proc = export([str(trained["mean", "standard"]), "--format", "pt", "--out", str(out)], tmp_path)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert proc.stderr == f"snnsim.export: stopped by SIGTERM after writing {out}\n"
    assert out.is_file()


@pytest.mark.xdist_group("export-trained")  # the trained files, made once on one xdist worker
def test_the_result_file_is_never_the_out(trained, tmp_path):
    """Even with --overwrite: the export would replace the trained model it reads."""
    path = tmp_path / "m.h5"
    path.write_bytes(trained["mean", "standard"].read_bytes())
    before = path.read_bytes()
    for given in (path, tmp_path / "m"):  # results/NAME is results/NAME.h5 for every reader
        done = export([str(given), "--format", "pt", "--out", str(path), "--overwrite"], tmp_path)
        assert done.returncode == 2 and done.stderr.count("\n") == 1
        assert f"--out: {path} is the result file; write to another file" in done.stderr
    assert path.read_bytes() == before


@pytest.mark.xdist_group("export-trained")  # the trained files, made once on one xdist worker
def test_an_out_named_as_another_format_is_refused(trained, tmp_path):
    """``--format pt --out other.h5 --overwrite`` replaced another run's result file with a torch
    pickle under its HDF5 name (and a new ``x.h5`` was a torch file that every reader of result
    files called "not an HDF5 file"); a NIR graph named ``.pt`` the same. Refused in one line, the
    file left as it was, as ``snnsim.predict`` refuses an ``--out`` named as another format."""
    path = trained["mean", "standard"]
    other = tmp_path / "other.h5"
    other.write_bytes(path.read_bytes())
    before = other.read_bytes()
    for fmt, out, why in (("pt", other, f"--out: {other} names an HDF5 file, but --format pt writes a torch file; "
                                        f"give a name such as {tmp_path / 'other.pt'}"),
                          ("pt", tmp_path / "m.nir", "names a NIR file, but --format pt writes a torch file"),
                          ("nir", tmp_path / "m.pt", f"--out: {tmp_path / 'm.pt'} names a torch file, but --format "
                                                     f"nir writes a NIR graph (HDF5); give a name such as "
                                                     f"{tmp_path / 'm.nir'}")):  # fmt: skip
        done = export([str(path), "--format", fmt, "--out", str(out), "--overwrite"], tmp_path)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and why in done.stderr, done.stderr
    assert other.read_bytes() == before and not (tmp_path / "m.nir").exists() and not (tmp_path / "m.pt").exists()


@pytest.mark.xdist_group("export-trained")  # the trained files, made once on one xdist worker
def test_a_torch_file_named_as_any_other_format_is_refused(trained, tmp_path):
    """``--format pt`` refused only HDF5 and NIR names: ``--out best.toml --overwrite`` replaced a
    config with a torch pickle, and ``--out model.npz`` wrote one that numpy cannot read."""
    config = tmp_path / "best.toml"
    config.write_text("epochs = 1\n")
    for out, kind in ((config, "a TOML"), (tmp_path / "model.npz", "a NumPy .npz")):
        done = export([str(trained["mean", "standard"]), "--format", "pt", "--out", str(out), "--overwrite"], tmp_path)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert (f"--out: {out} names {kind} file, but --format pt writes a torch file; give a name such as "
                f"{out.with_suffix('.pt')}") in done.stderr, done.stderr  # fmt: skip
    assert config.read_text() == "epochs = 1\n" and not (tmp_path / "model.npz").exists()


@pytest.mark.xdist_group("export-trained")  # the trained files, made once on one xdist worker
def test_a_full_disk_is_one_line_and_nothing_written(trained, tmp_path):
    """A NIR graph was first written by HDF5 to a scratch file beside --out: on a full disk the
    message was HDF5's own, over two lines ("Unable to synchronously create file (file write
    failed: time = ...", the scratch name, a buffer address). The pt format said it in one line.
    An --out in new folders left them behind, empty; they are removed again."""
    from small_disk import fill, mounted_tmpfs

    with mounted_tmpfs(tmp_path / "small") as small:
        fill(small)  # every block taken
        places = (small, small / "new" / "sub")
        for fmt, out in [(fmt, where / f"model.{fmt}") for fmt in ("nir", "pt") for where in places]:
            proc = export([str(trained["mean", "standard"]), "--format", fmt, "--out", str(out)], tmp_path)
            assert proc.returncode == 5, proc.stderr
            assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
            assert f"cannot write {out}: No space left on device; nothing written there" in proc.stderr
            assert sorted(p.name for p in small.iterdir()) == ["filler"]


def test_a_bmi_snn_exports_with_its_head_and_scaling_and_an_ann_is_refused(bmi_path, tmp_path):
    data = bmi_path  # the session's small data set, made once
    files = {}
    for model in ("snn", "ann"):
        files[model] = tmp_path / f"{model}.h5"
        neuron = ["--neuron", "standard"] if model == "snn" else []  # NIR carries the standard neuron only
        assert run_cli.main(["--study", "bmi", "--model", model, "--data", str(data), "--epochs", "1", "--hidden", "8",
                             "--n-train-folds", "2", "--quiet", "--out", str(files[model]), *neuron]) == 0  # fmt: skip
    ds = results.load(files["snn"])
    assert export([str(files["snn"]), "--format", "pt", "--out", str(tmp_path / "b.pt")], tmp_path).returncode == 0
    saved = torch.load(tmp_path / "b.pt")
    for name in ("w1", "w2", "head_scale", "head_bias"):
        np.testing.assert_array_equal(saved[name].numpy(), ds[name].values[0], err_msg=name)
    for name in ("x_mean", "x_std", "y_mean", "y_std"):
        np.testing.assert_array_equal(saved[name].numpy(), ds[name].values.astype(np.float32), err_msg=name)
    assert export([str(files["snn"]), "--format", "nir", "--out", str(tmp_path / "b.nir")], tmp_path).returncode == 0
    graph = nir.read(str(tmp_path / "b.nir"))
    np.testing.assert_array_equal(graph.metadata["head_scale"], ds.head_scale.values[0])
    # the recipe's window encoding: 960 inputs, each sample's vector held for window_steps steps
    assert (graph.metadata["input_encoding"], graph.metadata["hold_steps"]) == ("window", 8)
    assert (saved["input_encoding"], saved["hold_steps"]) == ("window", 8)
    assert graph.nodes["fc1"].weight.shape == ds.w1.values[0].T.shape
    refused = export([str(files["ann"]), "--format", "nir", "--out", str(tmp_path / "a.nir")], tmp_path)
    assert refused.returncode == 2 and "not a spiking network" in refused.stderr, refused.stderr
    assert refused.stderr.count("\n") == 1 and not (tmp_path / "a.nir").exists()


def _euler(graph, x: np.ndarray) -> np.ndarray:
    """The NIR graph fc1 -> lif1 -> fc2 -> out run by forward Euler at its ``dt`` (the module
    docstring's rule): x (batch, steps, inputs) -> the output's membrane or spikes per step."""
    dt, fc1, lif, fc2, out = graph.metadata["dt"], *(graph.nodes[k] for k in ("fc1", "lif1", "fc2", "out"))
    v1, v2, trace = np.zeros((len(x), fc1.weight.shape[0])), np.zeros((len(x), fc2.weight.shape[0])), []
    for t in range(x.shape[1]):
        v1 = v1 + dt / lif.tau * (lif.v_leak - v1 + lif.r * (x[:, t] @ fc1.weight.T.astype(np.float64)))
        s1 = v1 > lif.v_threshold
        v1 = np.where(s1, lif.v_reset, v1)
        v2 = v2 + dt / out.tau * (out.v_leak - v2 + out.r * (s1 @ fc2.weight.T.astype(np.float64)))
        if isinstance(out, nir.LIF):
            s2 = v2 > out.v_threshold
            v2 = np.where(s2, out.v_reset, v2)
            trace.append(s2.astype(np.float64))
        else:
            trace.append(v2.copy())
    return np.stack(trace, 1)


@pytest.mark.parametrize("flags", [
    ["--encoding", "bins", "--readout", "last"],  # 20 bins, then the pad_steps zero steps
    ["--encoding", "window", "--readout", "fr"],  # push-pull: unit d minus unit n + d
    ["--encoding", "window", "--readout", "weighted", "--readout-units", "2"],  # 2 units summed per output
    ["--encoding", "window", "--readout", "last", "--mi-order", "bin-major"],  # the data file's other column order
])  # fmt: skip
def test_a_bmi_graph_read_by_its_metadata_gives_the_predictions(flags, bmi_path, tmp_path):
    """Fed and read out as its metadata says (input steps, readout, how units make outputs, head
    and scaling), the exported graph gives snnsim.predict's predictions."""
    from snnsim.datasets import bmi as bmi_data

    model, nir_file, pred = tmp_path / "m.h5", tmp_path / "m.nir", tmp_path / "p.h5"
    assert run_cli.main(["--study", "bmi", "--model", "snn", "--neuron", "standard", "--data", bmi_path, "--epochs",
                         "1", "--hidden", "16", "--n-train-folds", "2", "--dim", "all", "--repeats", "1", "--quiet",
                         "--out", str(model), *flags]) == 0  # fmt: skip
    assert export([str(model), "--format", "nir", "--out", str(nir_file)], tmp_path).returncode == 0
    proc = predict(model, "--data", bmi_path, "--fold", "0", "--out", pred)
    assert proc.returncode == 0, proc.stderr
    expected = results.load(pred)["y_pred"].values[0]
    graph, cfg = nir.read(str(nir_file)), results.config_of(results.load(model))
    md = graph.metadata
    counts = bmi_data.mi_to_sequence(bmi_data.load(bmi_path)["MI"][0], cfg.mi_order)
    z = (counts - md["x_mean"]) / md["x_std"]
    if md["input_encoding"] == "window":  # the order the metadata names, whatever the data file's MI order
        assert md["input_order"] == "bin-major: input = bin * 48 + neuron, bin 0 first"
        x = np.repeat(z.reshape(len(z), 1, -1), int(md["hold_steps"]), axis=1)
    else:
        x = np.concatenate([z, np.zeros((len(z), int(md["pad_steps"]), z.shape[-1]))], axis=1)
    trace = _euler(graph, x)
    if md["readout"] == "weighted":
        units = (trace * md["readout_weights"][None]).sum(1)
    else:
        units = {"last": trace[:, -1], "fr": trace.mean(1)}[md["readout"]]
    n = expected.shape[-1]
    if md["push_pull"]:
        units = units[:, :n] - units[:, n:]
    units = units.reshape(len(units), n, int(md["readout_units"])).sum(-1)
    y = (md["head_scale"] * units + md["head_bias"]) * md["y_std"] + md["y_mean"]
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_an_ipd_graph_says_how_its_predictions_are_scored(tmp_path):
    """``--eval sum`` scores with the sum over time of the output membrane, not the readout: the
    metadata names both."""
    for mode in ("readout", "sum"):
        out = tmp_path / f"{mode}.h5"
        assert run_cli.main([*TINY, "--readout", "max", "--eval", mode, "--out", str(out)]) == 0
        assert export([str(out), "--format", "nir", "--out", str(tmp_path / f"{mode}.nir")], tmp_path).returncode == 0
        metadata = nir.read(str(tmp_path / f"{mode}.nir")).metadata
        assert (metadata["readout"], metadata["eval"]) == ("max", mode)


@pytest.mark.parametrize("dropped", ["head_scale", "readout_weights", "x_mean", "x_std", "y_std", "w2"])
def test_a_bmi_model_without_its_head_scaling_or_weights_is_one_line(dropped, bmi_path, tmp_path, capsys):
    """A BMI snn result file lacking its affine head or its readout's weights (the recipe's
    weighted readout) was exported without them, a graph whose outputs are not the model's, exit
    0; one lacking its scaling or w2 gave xarray's KeyError traceback. Now one line, exit 2, no file."""
    from snnsim import export as export_cli

    trained = tmp_path / "snn.h5"
    assert run_cli.main(["--study", "bmi", "--model", "snn", "--data", bmi_path, "--epochs", "1", "--hidden", "8",
                         "--n-train-folds", "2", "--quiet", "--out", str(trained)]) == 0  # fmt: skip
    ds = results.load(trained)
    assert results.config_of(ds).readout == "weighted" and dropped in ds
    model = results.write(ds.drop_vars(dropped), tmp_path / "m.h5")
    capsys.readouterr()
    for fmt in ("nir", "pt"):
        assert export_cli.main([str(model), "--format", fmt, "--out", str(tmp_path / f"m.{fmt}")]) == 2
        assert capsys.readouterr().err.splitlines() == [
            f"snnsim.export: error: {model}: holds no trained model (no {dropped})"
        ]
        assert not (tmp_path / f"m.{fmt}").exists()


def test_an_exported_bmi_model_names_the_libraries_and_data_file_it_was_trained_with(bmi_path, tmp_path):
    """The exported file carries the config and seed, and also (as its result file does) the library
    versions and hardware that trained the model and the SHA-256 of the BMI data file it was trained
    on: without them a model out of its result file could not be traced to what made it."""
    import hashlib
    import json

    model = tmp_path / "m.h5"
    assert run_cli.main(["--study", "bmi", "--model", "snn", "--neuron", "standard", "--data", bmi_path, "--epochs",
                         "1", "--hidden", "8", "--n-train-folds", "2", "--quiet", "--out", str(model)]) == 0  # fmt: skip
    ds = results.load(model)
    digest = hashlib.sha256(Path(bmi_path).read_bytes()).hexdigest()
    assert export([str(model), "--format", "pt", "--out", str(tmp_path / "m.pt")], tmp_path).returncode == 0
    assert export([str(model), "--format", "nir", "--out", str(tmp_path / "m.nir")], tmp_path).returncode == 0
    for md in (torch.load(tmp_path / "m.pt"), nir.read(str(tmp_path / "m.nir")).metadata):
        assert (
            md["versions"] == ds.attrs["versions"]
            and json.loads(md["versions"])["torch"] == torch.__version__.split("+")[0]
        )
        assert md["data_file_sha256"] == digest
        assert all(md[k] == ds.attrs[k] for k in ("cpu", "kernels", "numerics_env")) and "family" in md["cpu"]


def test_an_exported_model_names_its_numerics_and_synthetic_data(tmp_path):
    """The export carries, as its result file does, the numerics version the model was trained
    with and, for a BMI model trained on a synthetic data set, the SHA-256 of that set's arrays:
    the identity of what it learned from, where there is no data file to hash."""
    model = tmp_path / "m.h5"
    assert run_cli.main(["--study", "bmi", "--model", "snn", "--data", "synthetic:standard:1", "--epochs", "1",
                         "--neuron", "standard", "--hidden", "8", "--n-train-folds", "2", "--quiet", "--out", str(model)]) == 0  # fmt: skip
    ds = results.load(model)
    assert len(ds.attrs["synthetic_data_sha256"]) == 64
    assert export([str(model), "--format", "pt", "--out", str(tmp_path / "m.pt")], tmp_path).returncode == 0
    assert export([str(model), "--format", "nir", "--out", str(tmp_path / "m.nir")], tmp_path).returncode == 0
    for md in (torch.load(tmp_path / "m.pt"), nir.read(str(tmp_path / "m.nir")).metadata):
        assert md["synthetic_data_sha256"] == ds.attrs["synthetic_data_sha256"]
        assert int(md["numerics_version"]) == int(ds.attrs["numerics_version"]) == results.NUMERICS_VERSION


@pytest.mark.xdist_group("export-trained")  # the trained files, made once on one xdist worker
def test_an_export_names_the_snnsim_that_exported_it(trained, tmp_path):
    """``versions`` are those that trained the model (its result file's); ``exported_with`` names
    the snnsim (and libraries, nir for a graph) that exported it, which may be another: here a
    result file recorded as trained by snnsim 0.0.1, whose versions the export keeps as they are."""
    import json

    import nir

    import snnsim

    ds = results.load(trained["mean", "standard"])
    old = json.dumps({**json.loads(ds.attrs["versions"]), "snnsim": "0.0.1"}, sort_keys=True)
    ds.attrs.update(versions=old, snnsim_version="0.0.1")
    path = results.write(ds, tmp_path / "old.h5")
    assert export([str(path), "--format", "pt", "--out", str(tmp_path / "m.pt")], tmp_path).returncode == 0
    assert export([str(path), "--format", "nir", "--out", str(tmp_path / "m.nir")], tmp_path).returncode == 0
    for fmt, md in (("pt", torch.load(tmp_path / "m.pt")), ("nir", nir.read(str(tmp_path / "m.nir")).metadata)):
        assert md["versions"] == old  # what trained it, unchanged
        now = json.loads(md["exported_with"])
        assert now["snnsim"] == snnsim.__version__ != "0.0.1"
        assert {k: now[k] for k in results.library_versions()} == results.library_versions()
        assert ("nir" in now) == (fmt == "nir")


def test_an_export_names_the_bytes_of_its_result_file(trained, tmp_path):
    """An export names the result file it was read from, by path and by the SHA-256 of its bytes
    (``result_file``, ``result_sha256``), as a predictions file names its model: a result file
    trained again under the same name (``--overwrite``) is not taken for the one exported. It named
    neither."""
    import hashlib

    import nir

    path = trained["mean", "standard"]
    assert export([str(path), "--format", "pt", "--out", str(tmp_path / "m.pt")], tmp_path).returncode == 0
    assert export([str(path), "--format", "nir", "--out", str(tmp_path / "m.nir")], tmp_path).returncode == 0
    for md in (torch.load(tmp_path / "m.pt"), nir.read(str(tmp_path / "m.nir")).metadata):
        assert md["result_file"] == str(Path(path).resolve())
        assert md["result_sha256"] == hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_a_merged_sweep_or_tuning_study_names_the_files_to_export_from(tmp_path):
    """A merged sweep holds every job's weights (dim per swept setting), a merged tuning study
    every trial's: export said "no trained weights (w1, w2) of a single run", which they have,
    and predict guessed "a merged experiment?". Both name what the file is and the file of one
    run beside it to give instead, in one line, exit 2."""
    from snnsim import tune
    from snnsim.sweep import jobs
    from snnsim.sweep import merge as sweep_merge
    from snnsim.sweep.experiment import load as load_experiment

    root = tmp_path / "results"
    toml = tmp_path / "sw.toml"
    toml.write_text('name = "sw"\n[fixed]\nstudy = "ipd"\nneuron = "standard"\nepochs = 1\nn_train_batches = 2\n'
                    'n_test_batches = 1\nbatch_size = 8\nhidden = 8\n[sweep]\nseed = [0, 1]\n')  # fmt: skip
    exp = load_experiment(toml)
    assert jobs.run_jobs(exp, [0, 1], root, log=lambda message: None) == 0
    sweep_merge.merge(exp, root)
    spec_path = tmp_path / "tn.toml"
    spec_path.write_text('name = "tn"\ntrials = 1\nsampler = "random"\npruner = "none"\n[fixed]\nstudy = "ipd"\n'
                         'neuron = "standard"\nepochs = 1\nn_train_batches = 2\nn_test_batches = 1\nn_val_batches = 1\n'
                         'batch_size = 8\nhidden = 8\n[search]\nlr = { low = 1e-3, high = 1e-2, log = true }\n')  # fmt: skip
    spec = tune.load(spec_path)
    assert tune.work(spec, root, 0, lambda message: None) == 0
    tune.merge(spec, root)
    for merged, what, one, named in [
        ("sw.h5", "the merged results of experiment sw (2 jobs)", "sw/job-0.h5", "sw/job-INDEX.h5"),
        ("tn.h5", "the merged trials of tuning study tn (1 trial)", "tn/trial-0.h5", "tn/trial-NUMBER.h5"),
    ]:
        path = root / merged
        assert "w1" in results.load(path) and (root / one).is_file()
        done = export([str(path), "--format", "nir", "--out", str(tmp_path / "m.nir")], tmp_path)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr == (f"snnsim.export: error: {path}: {what}, not one run's file; give one of its files "
                               f"({named} beside it)\n")  # fmt: skip
        assert export([str(root / one), "--format", "nir", "--out", str(tmp_path / "m.nir")], tmp_path).returncode == 0
        (tmp_path / "m.nir").unlink()
        pred = predict(path, "--stimuli", "4", "--out", tmp_path / "p.h5")
        assert pred.returncode == 2 and pred.stderr.count("\n") == 1 and what in pred.stderr, pred.stderr
    assert not (tmp_path / "m.nir").exists() and not (tmp_path / "p.h5").exists()


def test_a_spiking_readout_is_exported_with_a_spiking_output_by_the_registrys_word(monkeypatch):
    """The NIR graph's output layer spikes where the readout says it reads spikes
    (``Readout.spiking_output``); export asked ``readout == "fr"``, so a spiking readout added to
    the registry as docs/architecture.md says was written with a non-spiking LI output."""
    import dataclasses

    import nir

    from snnsim import readouts
    from snnsim.export import network_to_nir

    monkeypatch.setitem(readouts.READOUTS, "fr_last", dataclasses.replace(readouts.READOUTS["last"], name="fr_last",
                                                                         spiking_output=True))  # fmt: skip
    w1, w2 = np.full((4, 3), 0.1), np.full((3, 2), 0.2)
    kinds = {name: type(network_to_nir(w1, w2, 0.9, 1.0, name, "standard", 1e-3).nodes["out"])
             for name in ("mean", "fr", "fr_last", "last")}  # fmt: skip
    assert kinds == {"mean": nir.LI, "fr": nir.LIF, "fr_last": nir.LIF, "last": nir.LI}


def test_the_graph_holds_the_neurons_time_constants_and_the_weights_gain():
    """alpha 0.8 per 1 ms step, as NIR's Euler step of dt 1e-4 s: tau = dt / (1 - alpha) = 5e-4 s,
    the weights times 1 / (1 - alpha) = 5; the metadata's ``tau_s`` is the model's own membrane time
    constant (alpha = exp(-step / tau_s)), not the graph's."""
    import nir

    from snnsim.export import network_to_nir

    w1, w2 = np.arange(12.0).reshape(4, 3) / 10, np.arange(6.0).reshape(3, 2) / 10
    graph = network_to_nir(w1, w2, 0.8, 1.5, "mean", "standard", 1e-3)
    np.testing.assert_allclose(graph.nodes["fc1"].weight, w1.T * 5, rtol=1e-6)
    np.testing.assert_allclose(graph.nodes["fc2"].weight, w2.T * 5, rtol=1e-6)
    for node in ("lif1", "out"):
        np.testing.assert_allclose(graph.nodes[node].tau, 5e-4, rtol=1e-6)
    assert isinstance(graph.nodes["out"], nir.LI) and graph.nodes["lif1"].tau.shape == (3,)
    np.testing.assert_array_equal(graph.nodes["lif1"].v_threshold, 1.5)
    assert graph.metadata["tau_s"] == pytest.approx(4.4814e-3, rel=1e-4)
    assert np.exp(-1e-3 / graph.metadata["tau_s"]) == pytest.approx(0.8, rel=1e-12)


def test_repeat_r_exports_the_weights_and_seed_of_that_repeat(tmp_path):
    """``--repeat 1`` of a run of two repeats (seed 7): the weights of repeat 1 (not the first's), and
    seed 8, the seed repeat 1 trained with (seed + repeat)."""
    out = tmp_path / "r.h5"
    assert run_cli.main([*TINY, "--repeats", "2", "--seed", "7", "--out", str(out)]) == 0
    ds = results.load(out)
    assert not np.array_equal(ds.w1.values[0], ds.w1.values[1])
    for repeat in (1, 0):
        pt = tmp_path / f"r{repeat}.pt"
        assert export([str(out), "--format", "pt", "--repeat", str(repeat), "--out", str(pt)], tmp_path).returncode == 0
        saved = torch.load(pt)
        assert (saved["repeat"], saved["seed"]) == (repeat, 7 + repeat)
        np.testing.assert_array_equal(saved["w1"].numpy(), ds.w1.values[repeat])
        np.testing.assert_array_equal(saved["w2"].numpy(), ds.w2.values[repeat])


def test_repeat_r_of_a_bmi_model_exports_the_head_and_readout_weights_of_that_repeat(bmi_path, tmp_path):
    """``--repeat 1`` of a BMI run of two repeats (the weighted readout and affine head): the head
    and readout weights of repeat 1 with its w1, as predict uses them, not those of repeat 0."""
    out = tmp_path / "r.h5"
    assert run_cli.main(["--study", "bmi", "--model", "snn", "--data", bmi_path, "--epochs", "1", "--hidden", "8",
                         "--n-train-folds", "2", "--repeats", "2", "--quiet", "--out", str(out)]) == 0  # fmt: skip
    ds = results.load(out)
    for repeat in (1, 0):
        pt = tmp_path / f"r{repeat}.pt"
        assert export([str(out), "--format", "pt", "--repeat", str(repeat), "--out", str(pt)], tmp_path).returncode == 0
        saved = torch.load(pt)
        for name in ("w1", "head_scale", "head_bias", "readout_weights"):
            assert not np.array_equal(ds[name].values[0], ds[name].values[1]), name
            np.testing.assert_array_equal(np.asarray(saved[name]), ds[name].values[repeat], err_msg=name)
