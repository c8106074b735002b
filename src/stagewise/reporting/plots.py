"""Figures (PNG, matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ..io import atomic_path  # noqa: E402
from .significance import FIRST_STAGE, seed_means  # noqa: E402
from .table import schedule_order  # noqa: E402


def schedule_plot(per_query: pd.DataFrame, dataset: str, metric: str, out_path):
    """One panel per ranker: the metric of every reranker and schedule, each seed a dot, the mean a bar,
    the first stage a dashed line."""
    means = seed_means(per_query[(per_query["dataset"] == dataset) & (per_query["metric"] == metric)])
    rankers = list(dict.fromkeys(means["ranker"]))
    fig, axes = plt.subplots(1, len(rankers), figsize=(5 * len(rankers), 4), sharey=True, squeeze=False)
    for ax, ranker in zip(axes[0], rankers):
        cell = means[means["ranker"] == ranker]
        trained = cell[cell["schedule"] != FIRST_STAGE]
        labels, x = [], 0
        order = schedule_order(trained["schedule"])
        for reranker in dict.fromkeys(trained["reranker"]):
            for schedule in order:
                seeds = trained[(trained["reranker"] == reranker) & (trained["schedule"] == schedule)]["value"]
                if seeds.empty:
                    continue
                ax.bar(x, seeds.mean(), color=f"C{order.index(schedule)}", alpha=0.5)
                ax.scatter([x] * len(seeds), seeds, color="black", s=12, zorder=3)
                labels.append(f"{reranker}\n{schedule}")
                x += 1
        first = cell[cell["schedule"] == FIRST_STAGE]["value"]
        if not first.empty:
            ax.axhline(first.mean(), color="gray", linestyle="--", label=f"{ranker} alone")
            ax.legend(loc="lower right")
        ax.set_xticks(range(len(labels)), labels, fontsize=8)
        ax.set_title(f"{ranker} candidates")
    axes[0][0].set_ylabel(f"{metric} ({dataset}); dots: seeds, bars: mean")
    fig.tight_layout()
    _save(fig, out_path)


def seed_spread_plot(table: pd.DataFrame, metric: str, out_path):
    """Standard deviation over seeds of every trained cell, one bar group per (ranker, test set)."""
    t = table[(table["metric"] == metric) & (table["schedule"] != FIRST_STAGE)]
    groups = list(dict.fromkeys(zip(t["ranker"], t["dataset"])))
    systems = list(dict.fromkeys(zip(t["reranker"], t["schedule"])))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(groups) * len(systems) / 4) + 2, 4))
    width = 0.8 / max(1, len(systems))
    for i, (reranker, schedule) in enumerate(systems):
        values = [
            t[(t["ranker"] == r) & (t["dataset"] == d) & (t["reranker"] == reranker) & (t["schedule"] == schedule)][
                "std"
            ].sum()
            for r, d in groups
        ]
        ax.bar([g + i * width for g in range(len(groups))], values, width, label=f"{reranker} {schedule}")
    ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))], [f"{r}\n{d}" for r, d in groups])
    ax.set_ylabel(f"std of {metric} over seeds")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    _save(fig, out_path)


def _save(fig, out_path):
    with atomic_path(out_path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def efficiency_plot(costs: pd.DataFrame, effect: pd.DataFrame, metric: str, out_path):
    """Effectiveness against training cost: x the training wall time of all a model's stages, y ``metric``'s mean
    over rankers and in-domain test sets (``effect``: efficiency.in_domain_effectiveness); a colour per schedule, a
    marker per reranker, a small dot per seed and a large one for the mean over seeds."""
    seeds = costs.assign(seed=costs["seed"].astype(str)).merge(effect, on=["reranker", "schedule", "seed"])
    schedules = schedule_order(seeds["schedule"])
    markers = dict(zip(dict.fromkeys(seeds["reranker"]), "osD^vP*X"))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (reranker, schedule), cell in seeds.groupby(["reranker", "schedule"], sort=False):
        colour = f"C{schedules.index(schedule)}"
        ax.scatter(cell["wall_s"] / 60, cell["value"], color=colour, marker=markers[reranker], s=12, alpha=0.5)
        ax.scatter(
            [cell["wall_s"].mean() / 60],
            [cell["value"].mean()],
            color=colour,
            marker=markers[reranker],
            s=70,
            edgecolor="black",
            label=f"{reranker} {schedule}",
        )
    ax.set_xlabel("training wall time, all stages (min)")
    ax.set_ylabel(f"{metric}, mean over rankers and in-domain test sets\n(small: each seed, large: their mean)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, out_path)
