"""Result tables: the tidy main table (one row per cell and metric, with significance markers), and the
paper's layout as Markdown and LaTeX (rankers x test sets, one line per reranker and schedule)."""

from __future__ import annotations

import pandas as pd

from .. import provenance
from ..grid import SCHEDULES, schedule_of
from ..io import atomic_path
from .significance import FIRST_STAGE, GRID, aggregate, over_seeds, seed_means, seed_variance_share

# the superscript letter of each system within a (ranker, reranker) family: the paper's schedules keep theirs; the
# cells of a stage-2 sweep get the next letters (f stays the first stage's)
LETTERS = {"C": "a", "D": "b", "C-D": "c", "D-C": "d", FIRST_STAGE: "f"}
_SPARE_LETTERS = "eghijkmnpqrstuvwxyz"


def schedule_order(schedules) -> list[str]:
    """Schedules and sweep cells in table order: C, D, C-D and its cells, D-C and its cells (given order within)."""
    unique = list(dict.fromkeys(s for s in schedules if s != FIRST_STAGE))
    return sorted(unique, key=lambda s: (SCHEDULES.index(schedule_of(s)), s != schedule_of(s), unique.index(s)))


def letters(schedules) -> dict[str, str]:
    """System -> its letter in the tables' markers (see LETTERS)."""
    found = {**LETTERS}
    spare = iter(_SPARE_LETTERS)
    for s in schedule_order(schedules):
        if s not in found:
            found[s] = next(spare, None) or f"[{s}]"
    return found


def check_coverage(per_query: pd.DataFrame, test_sets, rankers, reranked_rankers, models) -> None:
    """Stop unless the per-query metrics hold every test set for every first-stage ranker, and every (reranker,
    schedule cell, seed) for every re-ranked ranker and test set. Snakemake treats an existing metrics file as up to
    date when the job that would update it cannot be planned (a test set whose folder is misspelt, a corpus without
    docs.tsv): the table would leave the test set out and exit 0."""
    from ..errors import EvaluationError

    present = set(
        zip(
            per_query["ranker"],
            per_query["reranker"],
            per_query["schedule"],
            per_query["seed"].astype(str),
            per_query["dataset"],
        )
    )
    missing = [
        f"first stage {ranker} on {t}"
        for ranker in rankers
        for t in test_sets
        if (ranker, FIRST_STAGE, FIRST_STAGE, FIRST_STAGE, t) not in present
    ]
    missing += [
        f"{reranker}/{cell}/seed{seed} re-ranking {ranker} on {t}"
        for ranker in reranked_rankers
        for reranker, cell, seed in models
        for t in test_sets
        if (ranker, reranker, cell, str(seed), t) not in present
    ]
    if missing:
        sets = sorted({m.rsplit(" on ", 1)[1] for m in missing})
        raise EvaluationError(
            f"the metrics lack {len(missing)} runs of the configured grid, e.g. {missing[0]} (test "
            f"set(s) {', '.join(sets)}): their runs could not be built; check test_sets."
            f"{sets[0]} (a misspelt folder, a corpus without docs.tsv) and run snakemake on "
            f"results/metrics/first_stage/{(list(rankers) or ['<ranker>'])[0]}.tsv to see why"
        )


def read_metrics(paths) -> pd.DataFrame:
    frames = [
        pd.read_csv(p, sep="\t", dtype={"qid": str, "seed": str, "reranker": str, "schedule": str}) for p in paths
    ]
    return pd.concat(frames, ignore_index=True)


#: main.csv's columns of letters, one per kind of outcome (see significance.OUTCOMES), and their marks in the tables
MARK_COLUMNS = ("better_than", "worse_than", "equivalent_to", "negligible_to")


def _outcomes(significance: pd.DataFrame) -> pd.Series:
    if "outcome" in significance:
        return significance["outcome"]
    # results without outcomes (older files, hand-made tests): significant differences only
    return significance.apply(
        lambda r: ("better" if r.difference > 0 else "worse") if r.significant else "inconclusive", axis=1
    )


def _markers(significance: pd.DataFrame, letter: dict) -> dict:
    """(ranker, reranker, dataset, metric, system) -> (letters it is significantly better than, worse than,
    equivalent to within the margin without a significant difference, negligibly different from: significantly but
    within the margin)."""
    books = ({}, {}, {}, {})
    if significance is None or significance.empty:
        return {}
    for r, result in zip(significance.itertuples(), _outcomes(significance)):
        if result in ("better", "worse"):
            winner, loser = (r.system_a, r.system_b) if result == "better" else (r.system_b, r.system_a)
            pairs = ((winner, loser, books[0]), (loser, winner, books[1]))
        elif result in ("equivalent", "negligible"):
            book = books[2] if result == "equivalent" else books[3]
            pairs = ((r.system_a, r.system_b, book), (r.system_b, r.system_a, book))
        else:
            continue
        for system, other, book in pairs:
            book.setdefault((r.ranker, r.reranker, r.dataset, r.metric, system), set()).add(letter[other])
    keys = set().union(*books)
    return {k: tuple("".join(sorted(book.get(k, ()))) for book in books) for k in keys}


#: the dataset name of the rows and columns that average a cell over the out-of-domain test sets
OOD_MEAN = "out-of-domain mean"


def out_of_domain_mean(per_query: pd.DataFrame, out_of_domain, confidence: float = 0.95) -> pd.DataFrame:
    """Per cell and metric: the mean over the out-of-domain test sets of each seed's mean, then ``aggregate``'s
    statistics over seeds (dataset ``OOD_MEAN``). A cell missing one of the test sets gets no row."""
    means = seed_means(per_query[per_query["dataset"].isin(list(out_of_domain))])
    keys = [k for k in GRID if k != "dataset"] + ["seed", "metric"]
    grouped = means.groupby(keys, as_index=False, sort=False).agg(value=("value", "mean"), n=("dataset", "nunique"))
    grouped = grouped[grouped["n"] == len(set(out_of_domain))].drop(columns="n").assign(dataset=OOD_MEAN)
    return over_seeds(grouped[GRID + ["seed", "metric", "value"]], confidence)


def main_table(
    per_query: pd.DataFrame, significance: pd.DataFrame | None = None, confidence: float = 0.95, out_of_domain=()
):
    """Tidy: one row per (ranker, reranker, schedule, test set, metric) with n_seeds, mean, std, a confidence
    interval over seeds, ``better_than`` / ``worse_than``: the letters (C=a, D=b, C-D=c, D-C=d, first stage=f, a
    sweep's cells e, g, ...) of the systems of the same ranker, reranker and test set it differs from significantly
    by more than the margin, ``equivalent_to``: those it is equivalent to within the metric's margin (TOST) without a
    difference, ``negligible_to``: those it differs from significantly but within the margin; and
    ``seed_variance_share``: the share of its per-query variance that lies between seeds."""
    table = aggregate(per_query, confidence)
    markers = _markers(significance, letters(table["schedule"]))
    none = ("", "", "", "")
    columns = ([], [], [], [])
    for r in table.itertuples():
        if r.schedule == FIRST_STAGE:
            # the first stage is compared once per reranker; its markers name them: electra:ab
            found = [
                (rr, markers.get((r.ranker, rr, r.dataset, r.metric, FIRST_STAGE), none))
                for rr in sorted(set(table["reranker"]) - {FIRST_STAGE})
            ]
            for i, column in enumerate(columns):
                column.append(" ".join(f"{rr}:{m[i]}" for rr, m in found if m[i]))
        else:
            found = markers.get((r.ranker, r.reranker, r.dataset, r.metric, r.schedule), none)
            for column, m in zip(columns, found):
                column.append(m)
    for name, column in zip(MARK_COLUMNS, columns):
        table[name] = column
    table = table.merge(seed_variance_share(per_query), on=GRID + ["metric"], how="left")
    table["domain"] = ["out" if d in set(out_of_domain) else "in" for d in table["dataset"]]
    if len(out_of_domain):
        means = out_of_domain_mean(per_query, out_of_domain, confidence)
        table = pd.concat([table, means.assign(**{name: "" for name in MARK_COLUMNS}, domain="out")])
    first = table["schedule"] == FIRST_STAGE
    return pd.concat([table[first], table[~first]]).reset_index(drop=True)


def _layout(table: pd.DataFrame, metric: str):
    """Rows (reranker, schedule) and columns (ranker, dataset: in-domain test sets, then out-of-domain ones and
    their mean) of one metric; cells (mean, better-than letters, equivalent-to letters)."""
    t = table[table["metric"] == metric]
    rankers = list(dict.fromkeys(t["ranker"]))
    domain = dict(zip(t["dataset"], t["domain"])) if "domain" in t else {}
    datasets = sorted(dict.fromkeys(t["dataset"]), key=lambda d: (domain.get(d) == "out", d == OOD_MEAN))
    rerankers = [r for r in dict.fromkeys(t["reranker"]) if r != FIRST_STAGE]
    schedules = schedule_order(t["schedule"])
    equivalent = t["equivalent_to"] if "equivalent_to" in t else [""] * len(t)
    negligible = t["negligible_to"] if "negligible_to" in t else [""] * len(t)
    cells = {
        (r.ranker, r.reranker, r.schedule, r.dataset): (r.mean, r.better_than, e, n)
        for r, e, n in zip(t.itertuples(), equivalent, negligible)
    }
    lines = [("first stage", "", FIRST_STAGE, FIRST_STAGE)]
    lines += [(rr, s, rr, s) for rr in rerankers for s in schedules]
    columns = [(rk, ds) for rk in rankers for ds in datasets]
    body = []
    for label, schedule, rr, s in lines:
        row = []
        for rk, ds in columns:
            mean, *marks = cells.get((rk, rr, s, ds), (None, "", "", ""))
            row.append((mean, *("" if s == FIRST_STAGE else _text(m) for m in marks)))
        body.append((label, schedule, row))
    return rankers, datasets, body, letters(t["schedule"])


def _text(value) -> str:
    return "" if pd.isna(value) else str(value)


def markdown_table(table: pd.DataFrame, metrics, digits: int = 3, significance: pd.DataFrame | None = None) -> str:
    out = []
    for metric in metrics:
        rankers, datasets, body, letter = _layout(table, metric)
        header = ["reranker", "schedule"] + [f"{rk} {ds}" for rk in rankers for ds in datasets]
        out.append(f"### {metric}\n")
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "---|" * 2 + "---:|" * (len(header) - 2))
        for label, schedule, row in body:
            cells = [
                ""
                if m is None
                else f"{m:.{digits}f}"
                + (f"<sup>{k}</sup>" if k else "")
                + (f"<sub>≈{e}</sub>" if e else "")
                + (f"<sub>~{g}</sub>" if g else "")
                for m, k, e, g in row
            ]
            out.append("| " + " | ".join([label, schedule, *cells]) + " |")
        out.append("")
        for line in (_detectable(significance, metric), _seeds(table, significance, metric)):
            if line:
                out.append(line + "\n")
    out.append(_legend(letters(table["schedule"])))
    return "\n".join(out) + "\n"


def latex_table(table: pd.DataFrame, metrics, digits: int = 3, significance: pd.DataFrame | None = None) -> str:
    out = []
    for metric in metrics:
        rankers, datasets, body, letter = _layout(table, metric)
        n = len(datasets)
        out.append("\\begin{tabular}{ll" + "r" * (len(rankers) * n) + "}")
        out.append("\\toprule")
        out.append(" & & " + " & ".join(f"\\multicolumn{{{n}}}{{c}}{{{_tex(rk)}}}" for rk in rankers) + " \\\\")
        out.append("reranker & schedule & " + " & ".join(_tex(ds) for _ in rankers for ds in datasets) + " \\\\")
        out.append("\\midrule")
        for label, schedule, row in body:
            cells = [
                ""
                if m is None
                else f"{m:.{digits}f}"
                + (f"$^{{{k}}}$" if k else "")
                + (f"$_{{\\approx {e}}}$" if e else "")
                + (f"$_{{\\sim {g}}}$" if g else "")
                for m, k, e, g in row
            ]
            out.append(" & ".join([_tex(label), _tex(schedule), *cells]) + " \\\\")
        out.append("\\bottomrule")
        out.append("\\end{tabular}")
        notes = " ".join(
            line for line in (_detectable(significance, metric), _seeds(table, significance, metric)) if line
        )
        out.append(f"% {metric}; " + _legend(letter) + (f" {notes}" if notes else ""))
        out.append("")
    return "\n".join(out)


def _tex(text: str) -> str:
    return text.replace("_", "\\_").replace("&", "\\&").replace("%", "\\%")


def _legend(letter: dict) -> str:
    systems = [s for s in sorted(letter, key=lambda s: letter[s]) if s != FIRST_STAGE]
    named = ", ".join(f"{s} ({letter[s]})" for s in systems)
    return (
        f"Superscripts: significantly better than {named} or the first stage (f) of the same ranker, reranker "
        "and test set, by more than the metric's margin where it has one. Subscripts ≈: equivalent within the "
        "margin (paired TOST) and not significantly different. Subscripts ~: significantly different but within "
        "the margin (a negligible difference). No mark: inconclusive, which is not equivalence. Families: the "
        "difference tests of every pair of schedules and of each against the first stage within one ranker, "
        "reranker, test set and metric are corrected together; the equivalence tests of the pairs of schedules "
        "form a family of their own; nothing is corrected across families. Tests run on per-query scores "
        "averaged over seeds (significance.csv: each comparison's p-values, 90% interval, minimum detectable "
        "effect and per-seed differences)."
    )


def _detectable(significance: pd.DataFrame | None, metric: str) -> str:
    """One line: per ranker and test set, the range of the minimum detectable effects of this metric's comparisons
    between schedules (what a test of that many queries could have missed), at the level the marks use."""
    if significance is None or significance.empty or "mde" not in significance:
        return ""
    s = significance[(significance["metric"] == metric) & (significance["system_b"] != FIRST_STAGE)]
    s = s[s["mde"] > 0]  # systems that score every query alike (a stage 2 that changed nothing) detect nothing
    if s.empty:
        return ""
    parts = []
    for (ranker, dataset), g in s.groupby(["ranker", "dataset"], sort=False):
        low, high = g["mde"].min(), g["mde"].max()
        span = f"{low:.3f}" if f"{low:.3f}" == f"{high:.3f}" else f"{low:.3f}-{high:.3f}"
        parts.append(f"{ranker} {dataset} ({int(g['n_queries'].max())} queries) {span}")
    level = ""
    if "mde_alpha" in s:
        levels = sorted({f"{a:.2g}" for a in s["mde_alpha"]})
        level = f" at {'/'.join(levels)} per comparison (the corrected marks' level)"
    return (
        "Minimum detectable difference between schedules (paired t-test" + level + ", at the configured "
        "power): " + "; ".join(parts) + "."
    )


def _seeds(table: pd.DataFrame, significance: pd.DataFrame | None, metric: str) -> str:
    """One line on the seeds behind this metric's numbers: how often the per-seed differences between schedules
    agree in sign with the seed ensemble's, and the share of a cell's per-query variance that lies between seeds."""
    parts = []
    if significance is not None and not significance.empty and "seeds_agreeing" in significance:
        s = significance[(significance["metric"] == metric) & (significance["system_b"] != FIRST_STAGE)]
        if len(s) and s["n_seed_pairs"].sum():
            parts.append(
                f"per-seed differences between schedules agree in sign with the seed ensemble's in "
                f"{int(s['seeds_agreeing'].sum())} of {int(s['n_seed_pairs'].sum())} (comparison, seed) "
                "pairs"
            )
    if "seed_variance_share" in table:
        shares = table.loc[
            (table["metric"] == metric) & (table["schedule"] != FIRST_STAGE), "seed_variance_share"
        ].dropna()
        if len(shares):
            low, high = f"{shares.min():.0%}", f"{shares.max():.0%}"
            parts.append(
                f"seeds make up {low if low == high else f'{low}-{high}'} of a cell's per-query variance"
                + ("" if low == high else f" (median {shares.median():.0%})")
            )
    return ("Seeds: " + "; ".join(parts) + ".") if parts else ""


def vs_reference(table: pd.DataFrame, reference: list[dict]) -> pd.DataFrame:
    """Our mean next to reference numbers given per cell (ranker, reranker, schedule, dataset, metric, value), with
    our spread over seeds: the standard deviation, the lowest and highest seed's value, and whether the reference
    lies within that range (one seed of ours and the reference's run are two draws of the same training only when
    it does; with one seed of ours the range is a point)."""
    ref = pd.DataFrame(reference).rename(columns={"value": "reference"})
    spread = [c for c in ("std", "seed_min", "seed_max") if c in table]
    merged = ref.merge(table[GRID + ["metric", "n_seeds", "mean", *spread]], on=GRID + ["metric"], how="left")
    merged = merged.rename(columns={"mean": "ours"})
    merged["difference"] = merged["ours"] - merged["reference"]
    if {"seed_min", "seed_max"} <= set(merged):
        # main.csv holds 4 decimals: a reference equal to a seed's rounded value lies within the range
        inside = (merged["seed_min"] - 5e-5 <= merged["reference"]) & (merged["reference"] <= merged["seed_max"] + 5e-5)
        merged["within_seed_range"] = inside.where(merged["ours"].notna())
    return merged[
        GRID
        + ["metric", "n_seeds", "ours", "reference", "difference", *spread]
        + (["within_seed_range"] if "within_seed_range" in merged else [])
    ]


def write_csv(frame: pd.DataFrame, out_path, float_format="%.4f"):
    """Write a table atomically, and its provenance record as its entry in its folder's provenance.json."""
    with atomic_path(out_path, suffix=".csv") as tmp:
        frame.to_csv(tmp, index=False, float_format=float_format)
    provenance.write_entry(out_path, provenance.record())


def write_text(text: str, out_path):
    """Write a Markdown or LaTeX table atomically, with its provenance record as ``write_csv`` does."""
    with atomic_path(out_path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    provenance.write_entry(out_path, provenance.record())
