"""Summaries and plots for the exploration notebook; nothing here is specific to one data set."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from .schema import Schema, canonical_levels


def _positive(frame: pd.DataFrame, schema: Schema) -> pd.Series:
    return pd.Series(schema.is_positive(frame[schema.target]), index=frame.index)


def column_summary(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """One row per feature: kind, missing count, distinct values, range or top level."""
    rows = []
    for spec in schema.columns:
        series = frame[spec.name]
        rows.append({
            "column": spec.name, "kind": spec.kind, "dtype": spec.dtype, "missing": int(series.isna().sum()),
            "distinct": int(series.nunique()),
            "min": spec.minimum, "max": spec.maximum,
            "top": None if spec.kind == "numeric" else str(series.mode().iat[0]),
        })
    return pd.DataFrame(rows).set_index("column")


def target_balance(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Count and share of each target class."""
    counts = canonical_levels(frame[schema.target]).value_counts().rename("rows")
    return pd.DataFrame({"rows": counts, "share": counts / counts.sum()})


def numeric_by_target(frame: pd.DataFrame, schema: Schema) -> plt.Figure:
    """Histograms of each numeric feature, split by target class (densities)."""
    numeric = [c.name for c in schema.columns if c.kind == "numeric"]
    positive = _positive(frame, schema)
    ncols = 3
    nrows = max(1, -(-len(numeric) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, numeric):
        for cls, label in ((0, "other"), (1, schema.positive_class)):
            values = frame.loc[positive == cls, name].dropna()
            ax.hist(values, bins=40, density=True, alpha=0.5, label=f"{schema.target}={label}")
        ax.set_title(name)
    for ax in list(axes.flat)[len(numeric):]:
        ax.axis("off")
    axes.flat[0].legend()
    fig.tight_layout()
    return fig


def categorical_rates(frame: pd.DataFrame, schema: Schema, top: int = 25) -> plt.Figure:
    """Positive rate per level of each categorical feature (its ``top`` most frequent levels)."""
    categorical = [c.name for c in schema.columns if c.kind == "categorical"]
    positive = _positive(frame, schema)
    base_rate = positive.mean()
    fig, axes = plt.subplots(len(categorical) or 1, 1, figsize=(10, 2.8 * max(1, len(categorical))), squeeze=False)
    for ax, name in zip(axes.flat, categorical):
        levels = canonical_levels(frame[name])
        stats = positive.groupby(levels).agg(["mean", "size"]).sort_values("size", ascending=False).head(top)
        ax.bar(stats.index.astype(str), stats["mean"])
        ax.axhline(base_rate, color="grey", linestyle="--", label=f"overall {base_rate:.3f}")
        ax.set(title=f"{name}: positive rate by level (top {len(stats)} by rows)", ylabel="positive rate")
        ax.tick_params(axis="x", rotation=90)
        ax.legend()
    fig.tight_layout()
    return fig
