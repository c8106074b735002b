"""A run-file ranker: candidates someone already has (a SPLADE or TAS-B run), validated and normalized."""

from __future__ import annotations

import logging

from ..errors import InputFormatError
from ..io import file_identity, read_header, read_run, write_run
from ..provenance import record

log = logging.getLogger(__name__)


def import_run(path, out_path, queries: dict[str, str] | None = None, depth: int | None = None, tag: str = "run"):
    """Read a TREC run (stops at the first malformed line, naming file and line) and write it normalized:
    ranks recomputed from scores, ties broken by document id, cut at ``depth``, only the ``queries`` given; with a
    provenance header naming the file it came from (and holding that file's own ir_metadata header, if any)."""
    run = read_run(path)
    if queries is not None:
        missing = sorted(set(queries) - set(run))
        extra = sorted(set(run) - set(queries))
        if missing:
            log.warning(
                "%s: %d of %d queries have no candidates (first: %s); they count as empty rankings",
                path,
                len(missing),
                len(queries),
                missing[0],
            )
        if extra:
            log.info("%s: %d queries are not in the query set and are dropped", path, len(extra))
        run = {qid: docs for qid, docs in run.items() if qid in queries}
    try:  # the given file's own ir_metadata header, if it has one, kept inside ours
        theirs = read_header(path)
    except InputFormatError as e:  # read_run skipped it as comments: a record, not a reason to stop
        theirs = f"unreadable: {e}"
    header = record(
        tag=tag, imported=path, imported_identity=file_identity(path), imported_metadata=theirs, depth=depth
    )
    write_run(run, out_path, tag=tag, depth=depth, header=header)
    log.info("imported %d queries from %s into %s", len(run), path, out_path)
    return run
