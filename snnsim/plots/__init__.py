"""Figures from result datasets (:func:`snnsim.results.load`): each function takes an
``xarray.Dataset`` (a single run or a merged experiment) and returns a matplotlib Figure;
:func:`save_figure` writes it as PNG and SVG. ``python -m snnsim.plot RESULTS`` draws every
figure that applies to a results file.
"""

import importlib

#: The figure functions of each module, imported at first use (xarray and matplotlib take a
#: second or more: ``python -m snnsim.plots --help`` and its refusals need neither).
_MODULES = {
    "bmi": ("fvaf_figure", "gap_breaks", "input_weight_profiles", "learning_curves", "prediction_trace",
            "rmse_figure", "training_size_figure"),
    "common": ("figure_source", "save_figure", "stack_samples", "with_settings"),
    "costs": ("cost_figure",),
    "ipd": ("accuracy_boxplot", "confusion_figure", "error_boxplot", "hidden_weight_profiles", "input_raster",
            "metric_boxplot", "metric_samples", "model_space_figure", "reorder_hidden", "training_curves",
            "weight_matrices"),
}  # fmt: skip
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    if name in _MODULES:  # plots.bmi, as before a figure function was used
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_MODULES})
