"""``python -m snnsim.export RESULT.h5 [--repeat R] --format nir|pt --out PATH``: a trained model
out of a result file, for other tools.

Every IPD result file and every BMI ``snn`` result file holds the trained weights of each repeat
(``w1`` (input_unit, hidden_unit) and ``w2`` (hidden_unit, output_unit)) and the full config, so a
model is exported without training again. A BMI decoder's affine head on its readout
(``head_scale``, ``head_bias``) and its scaling (``x_mean``, ``x_std``, ``y_mean``, ``y_std``) go
into the ``pt`` dict and the NIR metadata (they act outside the spiking graph), and so does
how its input is presented: ``input_encoding`` ``bins`` (one 48-value step per 50 ms bin, then
``pad_steps`` steps of zero input so that the last bin reaches the output) or ``window`` (the 960
values as one input vector, fed for ``hold_steps`` steps), in the order ``input_order`` says
(window: bin-major, input = bin * 48 + neuron, whatever the column order of the data file's MI
rows; ``x_mean`` and ``x_std`` hold one value per neuron (48,), applied to each of its bins), and how the readout's units make the
outputs: ``push_pull`` (the ``fr`` readout: output d is unit d minus unit n + d) or
``readout_units`` consecutive units summed per output (the ``weighted`` readout). An IPD model's
``eval`` says how its predictions are scored: ``readout`` (its readout) or ``sum`` (the sum over
time of the output membrane, the notebook's).

``--format pt``: a ``torch.save`` dict: ``w1``, ``w2`` (float32, (in, out) layout), ``alpha`` (the
membrane decay per step), ``threshold``, ``readout``, ``dt`` (s), ``tau`` (s), ``config`` (JSON),
``repeat``, ``seed``, ``versions`` (JSON: the libraries that trained it), ``numerics_version``
(of the snnsim that trained it), ``exported_with`` (JSON: the snnsim and libraries that exported
it; for NIR also the nir package), the hardware that trained it as its result file names it
(``cpu``, ``gpu`` on CUDA, ``kernels``, ``numerics_env``, ``mixed_hardware`` after a resume on
other hardware) and, for a BMI model, ``data_file_sha256`` (trained on a data file) or
``synthetic_data_sha256`` (on a synthetic set), and the result file it was exported from
(``result_file``, its path, and ``result_sha256``, the SHA-256 of its bytes); the NIR metadata
holds them too.

``--format nir``: a NIR graph (the Neuromorphic Intermediate Representation, ``nir.write``;
HDF5) input -> Linear(w1) -> LIF -> Linear(w2) -> LI (readouts mean, max, last) or LIF (fr) ->
output. NIR neurons are continuous-time, ``tau dv/dt = (v_leak - v) + r I``; the importers of
Norse (``norse.torch.from_nir``) and snnTorch (``snntorch.import_nir``) integrate them with
forward Euler at a step ``dt``, ``v <- (1 - dt/tau) v + (dt/tau) r I``. snnsim's step is
``v <- alpha v + h``, so the graph has ``tau = dt / (1 - alpha)`` (Euler's decay is alpha), ``r =
1`` and the weights multiplied by ``1 / (1 - alpha)`` (undoing Euler's input gain; Norse ignores
``r``, snnTorch folds it into the threshold, so only this choice reads the same in both),
``v_leak = 0``, ``v_reset = 0``, ``v_threshold`` = the threshold, and ``dt = 1e-4`` (the step
snnTorch's importer assumes; load in Norse with ``from_nir(graph, dt=1e-4)``). Neither importer
maps the ``LI`` output node of the mean, max and last readouts (Norse's drops it silently, so the
output is the layer's input current; snnTorch's raises): map it to the library's leaky integrator
as ``tests/test_export.py`` does. The metadata
holds the real step (``step_s``), alpha, tau, the readout (its reduction over time is not part
of the graph) and the neuron model.

The neurons: a NIR LIF fires from its updated membrane and resets it in the same step. snnsim's
``standard`` neuron (``--neuron standard``) does exactly that, and its exported graph reproduces
snnsim's spikes and membranes in Norse and snnTorch (``tests/test_export.py``). The default
``notebook`` neuron fires from the membrane before the step's update and resets one step later
(seed quirk 3), which no NIR node can express: ``--format nir`` refuses it in one line (``pt``
carries it, with ``neuron``). ``network_to_nir`` still builds its graph, which reproduces
snnsim's network up to each hidden neuron's first spike (with delays of +2 steps for hidden
spikes, +3 for the output membrane) and differs afterwards (a tiny IPD run's test accuracy 18.8 %
against 25.0 %; a BMI decoder's outputs off by 170 %); its metadata says so.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .cli import OneLineParser, description_of, guarded, process, stop_on_signals, user_path
from .cli import index as _index
from .errors import ResultError
from .results import PROVENANCE

if TYPE_CHECKING:
    from .config import RunConfig

PROG = "snnsim.export"
#: The step snnTorch's NIR importer assumes (snntorch/import_nir.py), s.
NIR_DT = 1e-4
FORMATS = ("nir", "pt")
#: A BMI decoder's affine head on its readout (per output) and its input and target scaling.
BMI_HEAD = ("head_scale", "head_bias", "readout_weights")  # readout_weights: the "weighted" readout only
BMI_SCALING = ("x_mean", "x_std", "y_mean", "y_std")
#: How a BMI decoder's input is presented (``hold_steps``: window; ``pad_steps``: bins) and its
#: readout's units combined into outputs.
BMI_INPUT = ("input_encoding", "input_order", "hold_steps", "pad_steps", "push_pull", "readout_units")


def network_to_nir(
    w1: np.ndarray,
    w2: np.ndarray,
    alpha: float,
    threshold: float,
    readout: str,
    neuron: str,
    step_s: float,
    dt: float = NIR_DT,
) -> Any:  # fmt: skip  (a nir.NIRGraph)
    """One model as a ``nir.NIRGraph``; ``w1`` (in, hidden) and ``w2`` (hidden, out) in snnsim's
    layout, ``alpha`` the decay per step of ``step_s`` seconds (see the module docstring)."""
    import nir

    from .readouts import get_readout

    if not 0.0 < alpha < 1.0:
        raise ResultError(f"alpha must be in (0, 1) to be written as a NIR time constant, got {alpha}")
    w1, w2 = np.asarray(w1, dtype=np.float64), np.asarray(w2, dtype=np.float64)
    (n_in, n_hidden), n_out = w1.shape, w2.shape[1]
    gain, tau = 1.0 / (1.0 - alpha), dt / (1.0 - alpha)

    def full(n: int, value: float) -> np.ndarray:
        return np.full(n, value, dtype=np.float32)

    def lif(n: int) -> Any:  # a nir.LIF
        return nir.LIF(tau=full(n, tau), r=full(n, 1.0), v_leak=full(n, 0.0), v_threshold=full(n, threshold),
                       v_reset=full(n, 0.0))  # fmt: skip

    spiking_out = get_readout(readout).spiking_output  # the registry says which readouts spike (fr), not a name here
    out = lif(n_out) if spiking_out else nir.LI(tau=full(n_out, tau), r=full(n_out, 1.0), v_leak=full(n_out, 0.0))
    nodes = {
        "input": nir.Input(input_type=np.array([n_in])),
        "fc1": nir.Linear(weight=(w1.T * gain).astype(np.float32)),
        "lif1": lif(n_hidden),
        "fc2": nir.Linear(weight=(w2.T * gain).astype(np.float32)),
        "out": out,
        "output": nir.Output(output_type=np.array([n_out])),
    }
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "out"), ("out", "output")]
    neuron_note = (
        "fires from the updated membrane and resets it in the same step: as nir.LIF"
        if neuron == "standard"
        else "fires from the membrane before the step's update and resets one step later (the notebook's); "
        "equal to nir.LIF up to each neuron's first spike (hidden spikes +2 steps, output membrane +3)"
    )
    metadata = {"source": "snnsim", "dt": float(dt), "step_s": float(step_s), "alpha": float(alpha),
                "tau_s": float(-step_s / math.log(alpha)), "readout": readout, "neuron": neuron,
                "neuron_model": neuron_note}  # fmt: skip
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def model_of(path: str | Path, repeat: int | None) -> dict:
    """The trained model of repeat ``repeat`` (the first when None) of an IPD result file."""
    from . import results
    from .config import flag
    from .model_file import check_complete, check_shapes, refuse_predictions

    ds = results.load(path)
    if "config" not in ds.attrs and (merged := results.merged_note(ds.attrs)):  # it holds every job's weights
        raise ResultError(f"{path}: {merged}")
    refuse_predictions(ds, path)  # before the checks of a model: it has its model's config, but no weights
    cfg = results.config_of(ds, path)  # a file without one is named so, whether or not it holds weights
    if cfg.study == "bmi" and cfg.model != "snn":
        raise ResultError(f"{path}: this bmi model is not a spiking network; its trained weights are variables of "
                          "the result file (snnsim.results.load)")  # fmt: skip
    if "w1" not in ds:
        raise ResultError(f"{path}: no trained weights (w1, w2) of a single run; export takes a result file of "
                          "python -m snnsim.run or a sweep's job file")  # fmt: skip
    check_shapes(ds, cfg, path)
    network = [flag(k) + (" " + ",".join(map(str, cfg.hidden)) if k == "hidden" else "")
               for k in cfg.model_space if k != "rate_reg"]  # fmt: skip
    if network:
        raise ResultError(f"{path}: export carries the one-hidden-layer LIF network; this model uses "
                          f"{', '.join(network)}")  # fmt: skip
    check_complete(ds, cfg, path)  # a BMI head or scaling left out would give a wrong model
    repeats = [int(r) for r in ds["repeat"].values]
    r = repeats[0] if repeat is None else repeat
    if r not in repeats:
        raise ResultError(f"--repeat: {r} is not a repeat of {path} (repeats: {', '.join(map(str, repeats))})")
    return {
        "w1": ds["w1"].sel(repeat=r).values.astype(np.float32),
        "w2": ds["w2"].sel(repeat=r).values.astype(np.float32),
        "alpha": cfg.alpha, "threshold": cfg.threshold, "readout": cfg.readout, "dt": cfg.dt, "tau": cfg.tau,
        "neuron": getattr(cfg, "neuron", "notebook"), "config": cfg.to_json(), "repeat": r, "seed": cfg.seed + r,
        **{k: ds.attrs[k] for k in PROVENANCE if k in ds.attrs},  # what trained it, as its result file says
        "numerics_version": results.numerics_version(ds.attrs),
        **({"eval": cfg.eval} if cfg.study == "ipd" else {}),
        **({k: ds[k].sel(repeat=r).values.astype(np.float32) for k in BMI_HEAD if k in ds} if cfg.study == "bmi" else {}),
        **({k: ds[k].values.astype(np.float32) for k in BMI_SCALING} if cfg.study == "bmi" else {}),
        **(_bmi_input(cfg) if cfg.study == "bmi" else {}),
    }  # fmt: skip


def _bmi_input(cfg: RunConfig) -> dict:
    """How a BMI decoder's input reaches the graph: ``bins`` (one step per 50 ms bin, 48 inputs,
    then ``pad_steps`` zero steps) or ``window`` (all 960 values at once, held for ``hold_steps``
    steps); and how the graph's output units make the decoded outputs."""
    from .encoders.bmi import PAD
    from .readouts import get_readout

    if cfg.encoding == "window":
        held = {"hold_steps": cfg.window_steps, "input_order": "bin-major: input = bin * 48 + neuron, bin 0 first"}
    else:
        held = {"pad_steps": PAD, "input_order": "step = bin (bin 0 first), input = neuron"}
    push_pull = bool(get_readout(cfg.readout).spiking_output)
    return {"input_encoding": cfg.encoding, **held, "push_pull": push_pull,
            "readout_units": 1 if push_pull else cfg.readout_units}  # fmt: skip


def exported_with(fmt: str) -> str:
    """What exports the model (JSON): this snnsim's version and its libraries (and for ``nir`` the
    nir package's), beside ``versions``, those that trained it."""
    import json
    from importlib import metadata

    from .results import library_versions

    versions = library_versions()
    if fmt == "nir":
        versions["nir"] = metadata.version("nir")
    return json.dumps(versions, sort_keys=True)


def _check_name(out: str | Path, fmt: str) -> None:
    """Refuse an ``--out`` whose extension names another format than ``fmt`` writes: a torch file
    named ``.h5`` (with ``--overwrite``, over another run's result file), ``.nir`` or as any other
    format (``.toml``, ``.npz``), a NIR graph named ``.pt`` or as any other format."""
    from .results import HDF5_SUFFIXES, check_format_name

    if fmt == "pt":
        check_format_name(out, "--format pt writes a torch file", (".pt", ".pth"))
    else:
        check_format_name(out, "--format nir writes a NIR graph (HDF5)", (".nir", *HDF5_SUFFIXES))


def _refuse_neuron(path: str | Path, neuron: str) -> None:
    """Refuse ``--format nir`` of a model whose neuron no NIR node steps as it does."""
    if neuron != "standard":  # a graph of another model
        raise ResultError(f"{path}: --format nir cannot carry --neuron {neuron} (it fires from the membrane "
                          "before the step's update and resets a step later, which no NIR node does; the graph "
                          "would differ from the model after the first hidden spike): use --format pt, or train "
                          "with --neuron standard")  # fmt: skip


def _refuse_neuron_early(path: str | Path) -> None:
    """The refusal of :func:`_refuse_neuron` from the file's attributes and names alone, before
    torch and nir load (seconds): only for a file :func:`model_of` reads as a whole spiking model,
    whose own refusals (a merged or predictions file, a BMI baseline, another network, a tensor
    left out) come first; any other file, or one h5py cannot read, is left to :func:`model_of`."""
    import h5py

    from .results import file_attrs, read_config, resolve

    try:
        attrs = file_attrs(resolve(path))
        with h5py.File(resolve(path), "r") as f:
            names = set(f.keys())
    except OSError:  # no file, not HDF5: model_of says so
        return
    if "config" not in attrs or "model" in attrs:
        return
    cfg = read_config(attrs["config"], path)
    if cfg.study == "bmi":
        if cfg.model != "snn":
            return
        needed = {"w1", "w2", "head_scale", "head_bias", *BMI_SCALING}
        if cfg.readout == "weighted":
            needed.add("readout_weights")
    else:
        needed = {"w1", "w2"}
    if needed <= names and not [k for k in cfg.model_space if k != "rate_reg"]:
        _refuse_neuron(path, getattr(cfg, "neuron", "notebook"))


def export(path: str | Path, fmt: str, out: str | Path, repeat: int | None = None, overwrite: bool = False) -> Path:
    """Write repeat ``repeat`` of result file ``path`` to ``out`` in format ``fmt``."""
    if fmt == "nir":
        _refuse_neuron_early(path)
    import io

    import torch

    from .atomic_write import clean_and_report, write_bytes
    from .results import check_writable, file_sha256, resolve, same_file

    m = {**model_of(path, repeat), "exported_with": exported_with(fmt),  # the result file it read, as predict names it
         "result_file": str(resolve(path).resolve()), "result_sha256": file_sha256(resolve(path))}  # fmt: skip
    if fmt == "nir":
        _refuse_neuron(path, m["neuron"])
    if not same_file(out, path):  # the result file itself: check_writable says so
        _check_name(out, fmt)
    out = check_writable(out, overwrite, example=f"model.{fmt}", inputs={"the result file": path})
    clean_and_report(out, PROG, "exports")  # temporaries of exports killed in their write
    if fmt == "pt":
        buffer = io.BytesIO()
        torch.save({k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in m.items()}, buffer)
        return write_bytes(out, buffer.getvalue(), overwrite)
    import nir

    graph = network_to_nir(m["w1"], m["w2"], m["alpha"], m["threshold"], m["readout"], m["neuron"], m["dt"])
    graph.metadata.update({k: m[k] for k in ("config", "repeat", "seed", "eval", "numerics_version", *PROVENANCE,
                                             "exported_with", "result_file", "result_sha256") if k in m})  # fmt: skip
    graph.metadata.update({k: m[k] for k in (*BMI_HEAD, *BMI_SCALING, *BMI_INPUT) if k in m})  # outside the graph (BMI)
    buffer = io.BytesIO()  # in memory, then put in place as one file (never a fixed scratch name beside it)
    nir.write(buffer, graph)
    return write_bytes(out, buffer.getvalue(), overwrite)


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(prog=PROG, description=description_of(__doc__))
    p.add_argument("result", type=user_path, help="a result file (python -m snnsim.run --out, or a sweep's job file)")
    p.add_argument("--repeat", type=_index, default=None, help="which repeat's model (default: the first)")
    p.add_argument("--format", required=True, choices=FORMATS, help="nir (NIR graph, HDF5) or pt (torch.save dict)")
    p.add_argument("--out", required=True, type=user_path, help="the file to write")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    ns = p.parse_args(argv)

    def body() -> int:
        from .atomic_write import no_empty_folders
        from .cli import after_writing

        with no_empty_folders(ns.out):  # made by the check of --out: none left where nothing is written
            path = export(ns.result, ns.format, ns.out, ns.repeat, ns.overwrite)
        with after_writing(path):
            print(f"{path} ({ns.format}, repeat {model_of(ns.result, ns.repeat)['repeat']} of {ns.result})")
        return 0

    with stop_on_signals():  # scancel in the middle of the write: no temporary left beside --out
        return guarded(PROG, body)


if __name__ == "__main__":
    sys.exit(process(main))
