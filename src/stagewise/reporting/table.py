"""Result tables: the tidy main table (one row per cell and metric, with significance markers), and the
paper's layout as Markdown and LaTeX (rankers x test sets, one line per reranker and schedule)."""

from __future__ import annotations

import pandas as pd

from ..config import SCHEDULES, base_schedule
from ..io import atomic_path
from .significance import FIRST_STAGE, GRID, aggregate, over_seeds, seed_means

# the superscript letter of each system within a (ranker, reranker) family: the paper's schedules keep theirs; the
# cells of a stage-2 sweep get the next letters (f stays the first stage's)
LETTERS = {"C": "a", "D": "b", "C-D": "c", "D-C": "d", FIRST_STAGE: "f"}
_SPARE_LETTERS = "eghijkmnpqrstuvwxyz"


def schedule_order(schedules) -> list[str]:
    """Schedules and sweep cells in table order: C, D, C-D and its cells, D-C and its cells (given order within)."""
    unique = list(dict.fromkeys(s for s in schedules if s != FIRST_STAGE))
    return sorted(unique, key=lambda s: (SCHEDULES.index(base_schedule(s)), s != base_schedule(s),
                                         unique.index(s)))


def letters(schedules) -> dict[str, str]:
    """System -> its letter in the tables' markers (see LETTERS)."""
    found = {**LETTERS}
    spare = iter(_SPARE_LETTERS)
    for s in schedule_order(schedules):
        if s not in found:
            found[s] = next(spare, None) or f"[{s}]"
    return found


def read_metrics(paths) -> pd.DataFrame:
    frames = [pd.read_csv(p, sep="\t", dtype={"qid": str, "seed": str, "reranker": str, "schedule": str}) for p in paths]
    return pd.concat(frames, ignore_index=True)


def _markers(significance: pd.DataFrame, letter: dict) -> dict:
    """(ranker, reranker, dataset, metric, system) -> (letters it is significantly better than, worse than,
    equivalent to within the margin without a significant difference)."""
    books = ({}, {}, {})
    if significance is None or significance.empty:
        return {}
    equivalent = significance["outcome"] == "equivalent" if "outcome" in significance else False
    for r in significance[significance["significant"] | equivalent].itertuples():
        if r.significant:
            winner, loser = (r.system_a, r.system_b) if r.difference > 0 else (r.system_b, r.system_a)
            pairs = ((winner, loser, books[0]), (loser, winner, books[1]))
        else:
            pairs = ((r.system_a, r.system_b, books[2]), (r.system_b, r.system_a, books[2]))
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


def main_table(per_query: pd.DataFrame, significance: pd.DataFrame | None = None, confidence: float = 0.95,
               out_of_domain=()):
    """Tidy: one row per (ranker, reranker, schedule, test set, metric) with n_seeds, mean, std, a confidence
    interval over seeds, ``better_than`` / ``worse_than``: the letters (C=a, D=b, C-D=c, D-C=d, first stage=f, a
    sweep's cells e, g, ...) of the systems of the same ranker, reranker and test set it differs from significantly,
    and ``equivalent_to``: those it is equivalent to within the metric's margin (TOST) without a difference."""
    table = aggregate(per_query, confidence)
    markers = _markers(significance, letters(table["schedule"]))
    none = ("", "", "")
    columns = ([], [], [])
    for r in table.itertuples():
        if r.schedule == FIRST_STAGE:
            # the first stage is compared once per reranker; its markers name them: electra:ab
            found = [(rr, markers.get((r.ranker, rr, r.dataset, r.metric, FIRST_STAGE), none))
                     for rr in sorted(set(table["reranker"]) - {FIRST_STAGE})]
            for i, column in enumerate(columns):
                column.append(" ".join(f"{rr}:{m[i]}" for rr, m in found if m[i]))
        else:
            found = markers.get((r.ranker, r.reranker, r.dataset, r.metric, r.schedule), none)
            for column, m in zip(columns, found):
                column.append(m)
    table["better_than"], table["worse_than"], table["equivalent_to"] = columns
    table["domain"] = ["out" if d in set(out_of_domain) else "in" for d in table["dataset"]]
    if len(out_of_domain):
        means = out_of_domain_mean(per_query, out_of_domain, confidence)
        table = pd.concat([table, means.assign(better_than="", worse_than="", equivalent_to="", domain="out")])
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
    cells = {(r.ranker, r.reranker, r.schedule, r.dataset): (r.mean, r.better_than, e)
             for r, e in zip(t.itertuples(), equivalent)}
    lines = [("first stage", "", FIRST_STAGE, FIRST_STAGE)]
    lines += [(rr, s, rr, s) for rr in rerankers for s in schedules]
    columns = [(rk, ds) for rk in rankers for ds in datasets]
    body = []
    for label, schedule, rr, s in lines:
        row = []
        for rk, ds in columns:
            mean, mark, same = cells.get((rk, rr, s, ds), (None, "", ""))
            row.append((mean, "" if s == FIRST_STAGE else _text(mark), "" if s == FIRST_STAGE else _text(same)))
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
            cells = ["" if m is None else f"{m:.{digits}f}" + (f"<sup>{k}</sup>" if k else "")
                     + (f"<sub>≈{e}</sub>" if e else "") for m, k, e in row]
            out.append("| " + " | ".join([label, schedule, *cells]) + " |")
        out.append("")
        detectable = _detectable(significance, metric)
        if detectable:
            out.append(detectable + "\n")
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
            cells = ["" if m is None else f"{m:.{digits}f}" + (f"$^{{{k}}}$" if k else "")
                     + (f"$_{{\\approx {e}}}$" if e else "") for m, k, e in row]
            out.append(" & ".join([_tex(label), _tex(schedule), *cells]) + " \\\\")
        out.append("\\bottomrule")
        out.append("\\end{tabular}")
        detectable = _detectable(significance, metric)
        out.append(f"% {metric}; " + _legend(letter) + (f" {detectable}" if detectable else ""))
        out.append("")
    return "\n".join(out)


def _tex(text: str) -> str:
    return text.replace("_", "\\_").replace("&", "\\&").replace("%", "\\%")


def _legend(letter: dict) -> str:
    systems = [s for s in sorted(letter, key=lambda s: letter[s]) if s != FIRST_STAGE]
    named = ", ".join(f"{s} ({letter[s]})" for s in systems)
    return (f"Superscripts: significantly better than {named} or the first stage (f) of the same ranker, reranker "
            "and test set, after correction for the comparisons of that family. Subscripts ≈: equivalent within the "
            "metric's margin (paired TOST, same correction) and not significantly different. No mark: not different, "
            "which is not equivalence (significance.csv has each comparison's 90% interval and minimum detectable "
            "effect).")


def _detectable(significance: pd.DataFrame | None, metric: str) -> str:
    """One line: per ranker and test set, the range of the minimum detectable effects of this metric's comparisons
    between schedules (what a test of that many queries could have missed)."""
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
    return ("Minimum detectable difference between schedules (paired t-test at the configured alpha and power): "
            + "; ".join(parts) + ".")


def vs_reference(table: pd.DataFrame, reference: list[dict]) -> pd.DataFrame:
    """Our mean next to reference numbers given per cell (ranker, reranker, schedule, dataset, metric, value)."""
    ref = pd.DataFrame(reference).rename(columns={"value": "reference"})
    merged = ref.merge(table[GRID + ["metric", "n_seeds", "mean"]], on=GRID + ["metric"], how="left")
    merged = merged.rename(columns={"mean": "ours"})
    merged["difference"] = merged["ours"] - merged["reference"]
    return merged[GRID + ["metric", "n_seeds", "ours", "reference", "difference"]]


def write_csv(frame: pd.DataFrame, out_path, float_format="%.4f"):
    with atomic_path(out_path, suffix=".csv") as tmp:
        frame.to_csv(tmp, index=False, float_format=float_format)


def write_text(text: str, out_path):
    with atomic_path(out_path) as tmp:
        tmp.write_text(text, encoding="utf-8")
