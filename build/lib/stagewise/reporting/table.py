"""Result tables: the tidy main table (one row per cell and metric, with significance markers), and the
paper's layout as Markdown and LaTeX (rankers x test sets, one line per reranker and schedule)."""

from __future__ import annotations

import pandas as pd

from ..io import atomic_path
from .significance import FIRST_STAGE, GRID, aggregate

# the superscript letter of each system within a (ranker, reranker) family
LETTERS = {"C": "a", "D": "b", "C-D": "c", "D-C": "d", FIRST_STAGE: "f"}
SCHEDULE_ORDER = ["C", "D", "C-D", "D-C"]


def read_metrics(paths) -> pd.DataFrame:
    frames = [pd.read_csv(p, sep="\t", dtype={"qid": str, "seed": str, "reranker": str, "schedule": str}) for p in paths]
    return pd.concat(frames, ignore_index=True)


def _markers(significance: pd.DataFrame) -> dict:
    """(ranker, reranker, dataset, metric, system) -> (letters it is significantly better than, worse than)."""
    better, worse = {}, {}
    if significance is None or significance.empty:
        return {}
    for r in significance[significance["significant"]].itertuples():
        winner, loser = (r.system_a, r.system_b) if r.difference > 0 else (r.system_b, r.system_a)
        for system, other, book in ((winner, loser, better), (loser, winner, worse)):
            book.setdefault((r.ranker, r.reranker, r.dataset, r.metric, system), set()).add(LETTERS[other])
    keys = set(better) | set(worse)
    return {k: ("".join(sorted(better.get(k, ()))), "".join(sorted(worse.get(k, ())))) for k in keys}


def main_table(per_query: pd.DataFrame, significance: pd.DataFrame | None = None, confidence: float = 0.95):
    """Tidy: one row per (ranker, reranker, schedule, test set, metric) with n_seeds, mean, std, a confidence
    interval over seeds, and ``better_than`` / ``worse_than``: the letters (C=a, D=b, C-D=c, D-C=d, first
    stage=f) of the systems of the same ranker, reranker and test set it differs from significantly."""
    table = aggregate(per_query, confidence)
    markers = _markers(significance)
    better, worse = [], []
    for r in table.itertuples():
        if r.schedule == FIRST_STAGE:
            # the first stage is compared once per reranker; its markers name them: electra:ab
            found = [(rr, markers.get((r.ranker, rr, r.dataset, r.metric, FIRST_STAGE), ("", "")))
                     for rr in sorted(set(table["reranker"]) - {FIRST_STAGE})]
            better.append(" ".join(f"{rr}:{b}" for rr, (b, _) in found if b))
            worse.append(" ".join(f"{rr}:{w}" for rr, (_, w) in found if w))
        else:
            b, w = markers.get((r.ranker, r.reranker, r.dataset, r.metric, r.schedule), ("", ""))
            better.append(b)
            worse.append(w)
    table["better_than"], table["worse_than"] = better, worse
    first = table["schedule"] == FIRST_STAGE
    return pd.concat([table[first], table[~first]]).reset_index(drop=True)


def _layout(table: pd.DataFrame, metric: str):
    """Rows (reranker, schedule) and columns (ranker, dataset) of one metric, cells (mean, markers)."""
    t = table[table["metric"] == metric]
    rankers = list(dict.fromkeys(t["ranker"]))
    datasets = list(dict.fromkeys(t["dataset"]))
    rerankers = [r for r in dict.fromkeys(t["reranker"]) if r != FIRST_STAGE]
    schedules = [s for s in SCHEDULE_ORDER if s in set(t["schedule"])]
    cells = {(r.ranker, r.reranker, r.schedule, r.dataset): (r.mean, r.better_than) for r in t.itertuples()}
    lines = [("first stage", "", FIRST_STAGE, FIRST_STAGE)]
    lines += [(rr, s, rr, s) for rr in rerankers for s in schedules]
    columns = [(rk, ds) for rk in rankers for ds in datasets]
    body = []
    for label, schedule, rr, s in lines:
        row = []
        for rk, ds in columns:
            mean, mark = cells.get((rk, rr, s, ds), (None, ""))
            row.append((mean, "" if s == FIRST_STAGE else mark))
        body.append((label, schedule, row))
    return rankers, datasets, body


def markdown_table(table: pd.DataFrame, metrics, digits: int = 3) -> str:
    out = []
    for metric in metrics:
        rankers, datasets, body = _layout(table, metric)
        header = ["reranker", "schedule"] + [f"{rk} {ds}" for rk in rankers for ds in datasets]
        out.append(f"### {metric}\n")
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "---|" * 2 + "---:|" * (len(header) - 2))
        for label, schedule, row in body:
            cells = ["" if m is None else f"{m:.{digits}f}" + (f"<sup>{k}</sup>" if k else "") for m, k in row]
            out.append("| " + " | ".join([label, schedule, *cells]) + " |")
        out.append("")
    out.append(_legend())
    return "\n".join(out) + "\n"


def latex_table(table: pd.DataFrame, metrics, digits: int = 3) -> str:
    out = []
    for metric in metrics:
        rankers, datasets, body = _layout(table, metric)
        n = len(datasets)
        out.append("\\begin{tabular}{ll" + "r" * (len(rankers) * n) + "}")
        out.append("\\toprule")
        out.append(" & & " + " & ".join(f"\\multicolumn{{{n}}}{{c}}{{{_tex(rk)}}}" for rk in rankers) + " \\\\")
        out.append("reranker & schedule & " + " & ".join(_tex(ds) for _ in rankers for ds in datasets) + " \\\\")
        out.append("\\midrule")
        for label, schedule, row in body:
            cells = ["" if m is None else f"{m:.{digits}f}" + (f"$^{{{k}}}$" if k else "") for m, k in row]
            out.append(" & ".join([_tex(label), _tex(schedule), *cells]) + " \\\\")
        out.append("\\bottomrule")
        out.append("\\end{tabular}")
        out.append(f"% {metric}; " + _legend())
        out.append("")
    return "\n".join(out)


def _tex(text: str) -> str:
    return text.replace("_", "\\_").replace("&", "\\&").replace("%", "\\%")


def _legend() -> str:
    return ("Superscripts: significantly better than C (a), D (b), C-D (c), D-C (d) or the first stage (f) of the "
            "same ranker, reranker and test set, after correction for the comparisons of that family.")


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
