"""Reference numbers of the shipped experiments, made before the study/runner redesign.

``python tests/reference/shipped.py`` runs a shrunken subset of every shipped experiment (same
settings, fewer epochs and batches) and stores every numeric result variable in
``tests/reference/shipped-PLATFORM.npz``; ``tests/test_shipped_reference.py`` runs the same
configs with the current code and requires bit-identical variables. Regenerate only when a
change of the numerics is intended, and say so in the commit.

The numbers are stored per kind of CPU (:data:`PLATFORM`: torch's CPU capability and the CPU
vendor): torch's and numpy's vectorised kernels round differently with other vector widths and
instruction sets (a float32 training then ends a few last bits, and after a few epochs a few
samples, elsewhere), so bit-identity holds on one kind of CPU, not across kinds.
``shipped-AVX2-AuthenticAMD.npz`` was made at commit 39b70ac on the AMD EPYC machines of the
project's first sessions; ``shipped-AVX512-GenuineIntel.npz`` by running this script of commit
39b70ac on an Intel Xeon (AVX-512) machine on 2026-12-01, so that both hold that commit's numbers.

The fused backend's per-sample kernels (2026-12-01, later) sum the weight gradients in another
grouping (per tile of samples), an intended change at the rounding level that moves every fused
IPD training's numbers: the Intel file was made anew with that code; the AMD file keeps only
the cases that change did not touch (the BMI ones; no AMD machine was at hand), and on AMD the
IPD cases check instead that their numbers do not depend on the thread count.

Files made since name the CPU family and model too (:func:`cpu_model_id`), and a test reads
them before the file of the kind: the AMD and Intel AVX-512 files differ in every case, so one
model's numbers may not hold on another model of the same vendor, where the test then falls
back to the file of the kind or to the thread check. ``shipped-AVX512-AuthenticAMD-f26m2.npz``
was made on 2026-12-02 at commit f3bca80 on the AMD EPYC Zen 5 machine (family 26, model 2)
of benchmarks/README.md, where no file of the kind existed; the same numbers came back with one
kernel thread and with two. ``shipped-AVX512-AuthenticAMD-f25m17.npz`` (the 2-core AMD machine of
the CI runs, family 25, model 17) was made the same way on 2026-12-06 at commit 6e075aa: the
files of one and of two kernel threads were equal in all 567 arrays; 11 arrays of the
``bmi_training_size/18`` case (its ridge fit) differ from the f26m2 file's in the last bits.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


@functools.cache
def _cpuinfo_lines() -> tuple[str, ...]:
    """The lines of /proc/cpuinfo, read once (none where there is no such file)."""
    try:
        return tuple(Path("/proc/cpuinfo").read_text().splitlines())
    except OSError:
        return ()


def _cpuinfo(field: str, default: str) -> str:
    """The first value of ``field`` in /proc/cpuinfo (``default`` where there is none)."""
    lines = _cpuinfo_lines()
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.split(":", 1)[0].strip() == field), default)


def platform_id() -> str:
    """torch's CPU capability (``AVX2``, ``AVX512``, ...) and the CPU vendor, e.g. ``AVX2-AuthenticAMD``."""
    import platform

    import torch

    return f"{torch.backends.cpu.get_cpu_capability()}-{_cpuinfo('vendor_id', platform.machine())}"


def cpu_model_id() -> str:
    """:func:`platform_id` and the CPU family and model, e.g. ``AVX512-AuthenticAMD-f26m2`` (Zen 5)."""
    return f"{platform_id()}-f{_cpuinfo('cpu family', '?')}m{_cpuinfo('model', '?')}"


PLATFORM = platform_id()
#: Where :func:`main` writes: numbers of one CPU family and model.
MODEL_STORE = HERE / f"shipped-{cpu_model_id()}.npz"
#: The stored numbers a test reads: this CPU model's, else those of its kind (capability and vendor).
STORE = MODEL_STORE if MODEL_STORE.exists() else HERE / f"shipped-{PLATFORM}.npz"

# (experiment, job indices, settings replaced to keep it short)
SHRINK_IPD = {"epochs": 2, "n_train_batches": 3, "n_test_batches": 2}
CASES = (
    ("ipd_readouts", (0, 1, 10, 20, 31, 40, 51), SHRINK_IPD),
    ("ipd_readouts_corrected", (0, 11, 20, 30, 41, 59), SHRINK_IPD),
    ("bmi_training_size", (0, 8, 9, 17, 18, 26, 27, 28, 29), {"epochs": 3}),
    ("smoke", (0, 1, 2, 3), {}),
)
SKIP = ("train_seconds", "time_stamp")


def configs():
    """[(key, RunConfig)] for every reference job."""
    from snnsim.sweep.experiment import load

    out = []
    for name, indices, shrink in CASES:
        exp = load(name)
        for i in indices:
            out.append((f"{name}/{i}", exp.config(i).replace(**shrink)))
    return out


def numbers(ds) -> dict[str, np.ndarray]:
    """Every numeric data variable of a result dataset but wall times."""
    return {k: v.values for k, v in ds.data_vars.items() if k not in SKIP and np.issubdtype(v.dtype, np.number)}


def run(cfg):
    """The result dataset of one config, through the package's entry point."""
    from snnsim.run import execute

    return execute(cfg, None, progress=False)


def main() -> None:
    store = {}
    for key, cfg in configs():
        for var, values in numbers(run(cfg)).items():
            store[f"{key}/{var}"] = values
        print(key, flush=True)
    np.savez_compressed(MODEL_STORE, **store)
    print(f"wrote {MODEL_STORE} ({len(store)} arrays)")


if __name__ == "__main__":
    main()
