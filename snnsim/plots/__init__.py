"""Figures from result datasets (:func:`snnsim.results.load`): each function takes an
``xarray.Dataset`` (a single run or a merged experiment) and returns a matplotlib Figure;
:func:`save_figure` writes it as PNG and SVG. ``python -m snnsim.plot RESULTS`` draws every
figure that applies to a results file.
"""

from .bmi import (
    fvaf_figure,
    gap_breaks,
    input_weight_profiles,
    learning_curves,
    prediction_trace,
    rmse_figure,
    training_size_figure,
)
from .common import save_figure, stack_samples, with_settings
from .costs import cost_figure
from .ipd import (
    accuracy_boxplot,
    confusion_figure,
    error_boxplot,
    hidden_weight_profiles,
    input_raster,
    metric_boxplot,
    metric_samples,
    model_space_figure,
    reorder_hidden,
    training_curves,
    weight_matrices,
)

__all__ = [
    "accuracy_boxplot",
    "confusion_figure",
    "cost_figure",
    "error_boxplot",
    "fvaf_figure",
    "gap_breaks",
    "hidden_weight_profiles",
    "input_raster",
    "input_weight_profiles",
    "learning_curves",
    "metric_boxplot",
    "metric_samples",
    "model_space_figure",
    "prediction_trace",
    "reorder_hidden",
    "rmse_figure",
    "save_figure",
    "stack_samples",
    "training_curves",
    "training_size_figure",
    "weight_matrices",
    "with_settings",
]
