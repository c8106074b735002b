"""Reference numbers (a paper's or a release's table) for results/tables/vs_reference.csv: cells given in the
config, or rows of a TSV file with the columns ranker (or first_stage), reranker, schedule, dataset, metric, value."""

from __future__ import annotations

import csv
import logging

from ..errors import InputFormatError
from ..grid import schedule_of

log = logging.getLogger(__name__)

COLUMNS = ("ranker", "reranker", "schedule", "dataset", "metric", "value")


def read_reference_file(
    path, metric_names: dict[str, str] | None = None, rankers: list[str] | None = None
) -> list[dict]:
    """The file's rows as cells, metric names mapped to ours, only those of ``rankers`` (all when None)."""
    metric_names = metric_names or {}
    cells, skipped = [], 0
    try:
        f = open(path, encoding="utf-8", newline="")
    except FileNotFoundError:
        raise InputFormatError(path, "file not found") from None
    with f:
        reader = csv.DictReader(f, delimiter="\t")
        header = [("ranker" if c == "first_stage" else c) for c in reader.fieldnames or []]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise InputFormatError(path, f"the header lacks the columns {missing} (has {reader.fieldnames})", 1)
        reader.fieldnames = header
        for lineno, row in enumerate(reader, start=2):
            if rankers is not None and row["ranker"] not in rankers:
                skipped += 1
                continue
            try:
                value = float(row["value"])
            except (TypeError, ValueError):
                raise InputFormatError(path, f"value {row['value']!r} is not a number", lineno) from None
            cells.append(
                {
                    **{c: row[c] for c in COLUMNS[:4]},
                    "metric": metric_names.get(row["metric"], row["metric"]),
                    "value": value,
                }
            )
    log.info("reference: %d cells from %s, %d rows of other first stages left out", len(cells), path, skipped)
    return cells


def paired_with_cells(reference: list[dict], cells: list[str]) -> list[dict]:
    """The reference cells, each with the ``schedule`` of the cell of ours it is compared with (``cells``: the grid's
    schedule axis, ``stagewise.config.grid_cells``). A reference schedule that is one of our cells is that cell.
    One that is a schedule of the grid without a cell of its own name, a stage-2 sweep of named settings only
    (paper.yaml's C-D_lr1e-08 and C-D_lr1e-05), is compared with every cell of that schedule, one row each: a
    reference whose stage-2 setting is unknown sits next to each candidate. Other cells (the first stage's -) stay."""
    of_schedule: dict[str, list[str]] = {}
    for cell in cells:
        of_schedule.setdefault(schedule_of(cell), []).append(cell)
    paired = []
    for ref in reference:
        schedule = ref["schedule"]
        matches = [schedule] if schedule in cells else of_schedule.get(schedule, [schedule])
        paired += [{**ref, "schedule": cell} for cell in matches]
    return paired


def reference_cells(reference: dict) -> list[dict]:
    """All cells of a config's ``reference`` section: its ``cells`` and the rows of its ``file``."""
    cells = list(reference.get("cells", []))
    if reference.get("file"):
        cells += read_reference_file(reference["file"], reference.get("metric_names"), reference.get("rankers"))
    return cells
