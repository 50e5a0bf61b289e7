"""Task-aware defaults: the settings ``python -m snnsim.run`` starts from for a study and model.

:class:`~snnsim.config.RunConfig`'s own defaults are the notebook's IPD settings. A BMI user
who gives only ``--study bmi`` (or ``--task bmi``) gets the BMI recipe instead: the settings of
``experiments/bmi_best.toml``, chosen on validation folds over the synthetic generator family
(docs/recipes.md). Flags and ``--config`` files win over these defaults; the result file holds
the full config either way. Experiment files (sweeps) and code that builds a ``RunConfig``
directly are not affected.

Importing this module does not import torch.
"""

from __future__ import annotations

from typing import Any

#: (study, model) -> settings that replace RunConfig's defaults in ``python -m snnsim.run``.
RECIPES: dict[tuple[str, str], dict[str, Any]] = {
    ("bmi", "snn"): {
        "backend": "fused",
        "encoding": "window",
        "readout": "weighted",
        "tau": "2ms",
        "hidden": 200,
        "init": "fan-in",
        "epochs": 30,
        "batch_size": 256,
        "lr": 0.0003,
        "weight_decay": 0.05,
        "input_rank": 32,
    },
}

#: The experiment file that holds each recipe (a test checks that they agree).
RECIPE_FILES = {("bmi", "snn"): "experiments/bmi_best.toml"}


#: Recipe settings that hold only together with another setting's value: (setting, value).
#: ``--delays fixed|learned`` with the BMI recipe drops its ``encoding`` (a held window has no
#: time course to delay); ``readout_units`` (summed weighted readouts) goes with ``weighted``.
REQUIRES: dict[str, tuple[str, Any]] = {"readout_units": ("readout", "weighted"), "encoding": ("delays", "none")}


def defaults(study: str, model: str = "snn", given: dict[str, Any] | None = None) -> dict[str, Any]:
    """The recipe settings of ``study`` and ``model`` (empty where RunConfig's defaults hold),
    without those that do not go with the settings ``given`` (:data:`REQUIRES`), and without the
    recipe's backend where ``given`` turns on a model-space option that it does not carry
    (``--recurrent`` with the BMI recipe runs on RunConfig's default backend, not ``fused``)."""
    recipe = dict(RECIPES.get((study, model), {}))
    given = given or {}
    for key, (other, value) in REQUIRES.items():
        if key in recipe and {**recipe, **given}.get(other, value) != value:
            del recipe[key]
    if "backend" in recipe and "backend" not in given and _needs_another_backend(recipe["backend"], given):
        del recipe["backend"]
    return recipe


def _needs_another_backend(backend: str, given: dict[str, Any]) -> bool:
    """Whether ``given`` turns on a model-space option that ``backend`` does not carry."""
    from .backends import MODEL_SPACE
    from .config import RunConfig, coerce
    from .errors import ConfigError

    for name, carriers in MODEL_SPACE.items():
        if name in given and backend not in carriers:
            try:
                on = coerce(name, given[name]) != getattr(RunConfig, name)
            except ConfigError:  # RunConfig names the bad value
                continue
            if on:
                return True
    return False
