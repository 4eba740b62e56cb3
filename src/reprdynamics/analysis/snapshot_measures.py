"""Per-sample measures of one snapshot's outputs: entropy, confidence, margin, correctness,
loss (the dashboard's a/b scatter and ``/measure``)."""

from __future__ import annotations

import numpy as np

from reprdynamics.analysis.dynamics import area_under_margin, prediction_entropy, softmax
from reprdynamics.storage.run import Run

__all__ = ["LABEL_MEASURES", "MEASURES", "measure_at", "measure_values"]

#: The measures, in display order.
MEASURES = ("entropy", "confidence", "margin", "correct", "loss")
#: The measures that need the sample's label.
LABEL_MEASURES = ("confidence", "margin", "correct", "loss")


def measure_values(
    outputs: np.ndarray, labels: np.ndarray | None, name: str, kind: str
) -> np.ndarray:
    """One per-sample measure of one snapshot's outputs ``(n, C)``, NaN where undefined.

    ``entropy`` of the predicted distribution; ``confidence`` p(gold); ``margin``
    z_gold − max other z (on log p for probabilities, as AUM, Pleiss et al. 2020);
    ``correct`` 1/0; ``loss`` the cross-entropy −log p(gold). Rows not recorded (NaN) and
    samples with an unknown label (-1) give NaN.
    """
    n = outputs.shape[0]
    values = np.full(n, np.nan)
    rows = np.isfinite(outputs).all(axis=1)
    if name == "entropy":
        if rows.any():
            values[rows] = prediction_entropy(outputs[rows], kind=kind)  # type: ignore[arg-type]
        return values
    assert labels is not None
    n_classes = outputs.shape[1]
    known = rows & (labels >= 0) & (labels < n_classes)
    if not known.any():
        return values
    z = outputs[known]
    gold = labels[known]
    if name == "margin":
        values[known] = area_under_margin(z[None], gold, kind=kind)  # type: ignore[arg-type]
        return values
    if name == "correct":
        values[known] = (np.argmax(z, axis=1) == gold).astype(np.float64)
        return values
    if kind == "logits":
        shifted = z - z.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        p_gold = softmax(z)[np.arange(gold.size), gold]
        log_gold = log_p[np.arange(gold.size), gold]
    else:
        p_gold = z[np.arange(gold.size), gold]
        log_gold = np.log(np.maximum(p_gold, np.finfo(np.float64).tiny))
    values[known] = p_gold if name == "confidence" else -log_gold
    return values


def measure_at(run: Run, measure: str, t: int, ids: np.ndarray | None) -> np.ndarray:
    """One measure of snapshot ``t`` for ``ids`` (all samples if None), NaN where undefined."""
    outputs = np.asarray(run.read(run.output_layer, t, ids), dtype=np.float64)
    labels = run.labels
    gold = None if labels is None else (labels if ids is None else labels[ids])
    return measure_values(outputs, gold, measure, run.kind)
