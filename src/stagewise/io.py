"""Community file formats: TREC run files (with an ir_metadata header) and qrels files, TSV queries, atomic writes."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import tempfile
from pathlib import Path

from .errors import InputFormatError

log = logging.getLogger(__name__)

# qid -> docid -> score
Run = dict[str, dict[str, float]]
# qid -> docid -> relevance grade
Qrels = dict[str, dict[str, int]]


#: bytes read from each of a file's start, middle and end for its sampled identity
SAMPLE_BYTES = 1 << 20


def file_identity(path) -> dict:
    """What a derived store records of the file it was built from, to notice a replacement that Snakemake's
    timestamps miss (a copy with the original date, ``rsync -a``): size, modification time, and the sha256 of the
    size and three 1 MiB samples (start, middle, end). Hashing a 10 GB training run whole per job is not affordable;
    the samples cost milliseconds and catch any replacement that changes the size or one of them (a same-size file
    that differs only outside the samples is not caught)."""
    import hashlib

    path = Path(path)
    stat = path.stat()
    h = hashlib.sha256(str(stat.st_size).encode())
    with open(path, "rb") as f:
        for start in sorted({0, max(0, stat.st_size // 2 - SAMPLE_BYTES // 2), max(0, stat.st_size - SAMPLE_BYTES)}):
            f.seek(start)
            h.update(f.read(SAMPLE_BYTES))
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sample_sha256": h.hexdigest()}


def folder_sha256(folder, name_end: bytes = b"\0", skip=()) -> str:
    """sha256 over the relative names and contents of the files in a folder, in name order (a model folder: a second
    per GB), leaving out the relative names in ``skip``. Each name is followed by ``name_end``; a ColBERT index
    records its checkpoint's hash with none."""
    import hashlib

    h = hashlib.sha256()
    root = Path(folder)
    for path in sorted(p for p in root.rglob("*") if p.is_file() and str(p.relative_to(root)) not in skip):
        h.update(str(path.relative_to(root)).encode() + name_end)
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def check_identity(path, recorded: dict, store) -> None:
    """Stop when ``path`` is not the file ``store`` was built from (``recorded``: its ``file_identity``)."""
    now = file_identity(path)
    changed = [k for k in ("size", "sample_sha256") if k in recorded and recorded[k] != now[k]]
    if changed:
        raise InputFormatError(
            path,
            f"is not the file {store} was built from (its {' and '.join(changed)} changed); "
            f"delete {store} so that it is rebuilt",
        )


def remove_stale_temporaries(path, kinds=("tmp",)) -> int:
    """Delete what an earlier writer of ``path`` left behind when it was killed (SIGKILL skips every cleanup): the
    hidden ``.<name>.*.<kind>`` siblings (``atomic_path``'s ``tmp``; the ColBERT index's ``staging``). Snakemake runs
    one job per output at a time (and one controller per working directory), so such a sibling belongs to no running
    job. Called before this writer makes its own. Returns the count."""
    path = Path(path)
    stale = [p for kind in kinds for p in path.parent.glob(f".{path.name}.*.{kind}")]
    for leftover in stale:
        log.info("removing %s, left by an earlier attempt that was killed", leftover)
        shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)
    return len(stale)


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary path next to ``path``; rename it to ``path`` only if the block succeeds.

    Works for files and folders, so a failed job never leaves a partial output behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    target = tmp / ("out" + suffix)
    try:
        yield target
        if not target.exists():
            raise FileNotFoundError(f"nothing was written for {path}")
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)  # an existing (e.g. pre-created, empty) output folder is replaced whole
        os.replace(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def open_text(path):
    """A text file for reading, gzip-compressed or not (told by its first bytes, not its name)."""
    import gzip

    with open(path, "rb") as f:
        compressed = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", encoding="utf-8") if compressed else open(path, encoding="utf-8")


def text_lines(path):
    """(line number, line without its newline) of a UTF-8 text file, plain or gzip-compressed (told by its first
    bytes): a byte-order mark, a line that is not UTF-8 and a corrupt gzip stream stop with the file and line."""
    import gzip
    import zlib

    path = Path(path)
    if not path.exists():
        raise InputFormatError(path, "file not found")
    with open(path, "rb") as f:
        compressed = f.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rb") if compressed else open(path, "rb") as f:
        lineno = 0
        try:
            for lineno, raw in enumerate(f, start=1):
                try:
                    line = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as e:
                    raise InputFormatError(
                        path,
                        f"is not UTF-8 text ({e.reason} at byte {e.start} of the line); convert it with iconv -t UTF-8",
                        lineno,
                    ) from None
                if lineno == 1 and line.startswith(BOM):
                    raise InputFormatError(path, _BOM_MESSAGE, 1)
                yield lineno, line
        except (OSError, EOFError, zlib.error) as e:  # a truncated or corrupt gzip stream
            raise InputFormatError(path, f"cannot be read to its end ({type(e).__name__}: {e})", lineno + 1) from None


def _open_lines(path):
    """(line number, line) of a run or qrels file's content lines (see ``text_lines``); empty lines and comment
    lines (``#`` first, as ir_metadata headers and trec_eval-style tools write them) skipped, line numbers kept."""
    for lineno, line in text_lines(path):
        if line.strip() and not line.lstrip().startswith("#"):
            yield lineno, line


def run_lines(path):
    """(line number, qid, docid, rank, score) of every line of a TREC run file, validated."""
    for lineno, line in _open_lines(path):
        parts = line.split()
        if len(parts) != 6:
            raise InputFormatError(path, f"expected 6 columns 'qid Q0 docid rank score tag', got {len(parts)}", lineno)
        qid, _, docid, rank, score, _tag = parts
        try:
            rank_value = int(rank)
            value = float(score)
        except ValueError:
            raise InputFormatError(path, f"rank {rank!r} or score {score!r} is not a number", lineno) from None
        if not math.isfinite(value):
            raise InputFormatError(path, f"score {score!r} is not finite", lineno)
        yield lineno, qid, docid, rank_value, value


def read_run(path) -> Run:
    """Read a TREC run file: ``qid Q0 docid rank score tag`` (whitespace-separated)."""
    run: Run = {}
    for lineno, qid, docid, _rank, value in run_lines(path):
        docs = run.setdefault(qid, {})
        if docid in docs:
            raise InputFormatError(path, f"document {docid!r} appears twice for query {qid!r}", lineno)
        docs[docid] = value
    return run


def read_run_by_rank(path, depth: int | None = None) -> dict[str, list[str]]:
    """qid -> docids of a TREC run in the order of its rank column, cut at ``depth``.

    For training pools (the released code cuts a training run by rank): a file whose scores tie heavily, as the
    fp16-quantized ColBERTv2 training run of Rank-DistiLLM does, is cut where its rank column says. Equal ranks
    fall back to descending score, then document id."""
    entries: dict[str, list[tuple[int, float, str]]] = {}
    seen: dict[str, set[str]] = {}
    for lineno, qid, docid, rank, value in run_lines(path):
        docs = seen.setdefault(qid, set())
        if docid in docs:
            raise InputFormatError(path, f"document {docid!r} appears twice for query {qid!r}", lineno)
        docs.add(docid)
        entries.setdefault(qid, []).append((rank, -value, docid))
    return {qid: [d for _, _, d in sorted(items)[:depth]] for qid, items in entries.items()}


def sorted_ranking(docs: dict[str, float]) -> list[tuple[str, float]]:
    """Order documents by descending score, ties broken by descending document id (compared as strings).

    That is trec_eval's order (and so pytrec_eval's and ir-measures'): a run file with tied scores evaluates the
    same with our code and with theirs, whatever the order of its lines or its rank column."""
    return sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)


def write_run(run: Run, path, tag="stagewise", depth=None, header: dict | None = None):
    """Write a TREC run atomically, ranks from scores with ties in trec_eval's order (see ``sorted_ranking``);
    ``header``: a provenance record (``stagewise.provenance.record``), written first as an ir_metadata header of
    ``#`` lines (``header_lines``), which every reader of run files here skips."""
    with RunWriter(path, tag, depth, header) as writer:
        writer.write(run)


class RunWriter:
    """Write a TREC run query batch by query batch, atomically (renamed into place when the block succeeds); each
    query's ranking as ``write_run`` orders it, after the ``header`` record if one is given. A query written twice
    is an error."""

    def __init__(self, path, tag="stagewise", depth=None, header: dict | None = None):
        self.path, self.tag, self.depth, self.header, self.written = Path(path), tag, depth, header, set()

    def __enter__(self):
        self._atomic = atomic_path(self.path)
        self._file = open(self._atomic.__enter__(), "w", encoding="utf-8")
        if self.header is not None:
            try:
                self._file.writelines(line + "\n" for line in header_lines(self.header))
            except BaseException as e:
                self.__exit__(type(e), e, e.__traceback__)  # no partial file or temporary left behind
                raise
        return self

    def write(self, run: Run):
        for qid in sorted(run):
            if qid in self.written:
                raise ValueError(f"query {qid!r} written twice to {self.path}")
            self.written.add(qid)
            ranking = sorted_ranking(run[qid])[: self.depth] if self.depth is not None else sorted_ranking(run[qid])
            for rank, (docid, score) in enumerate(ranking, start=1):
                self._file.write(f"{qid} Q0 {docid} {rank} {score:.6f} {self.tag}\n")

    def __exit__(self, *exc):
        self._file.close()
        return self._atomic.__exit__(*exc)


#: the first and last lines of a run file's ir_metadata header (https://www.ir-metadata.org), after '# '
IR_METADATA_START, IR_METADATA_END = "ir_metadata.start", "ir_metadata.end"


def header_lines(record: dict) -> list[str]:
    """A run file's ir_metadata header holding ``record`` (a ``stagewise.provenance`` record), as repro_eval writes
    it: ``# ir_metadata.start``, the record's YAML a line each after ``# ``, ``# ir_metadata.end`` (lines without their
    newline)."""
    import yaml

    text = yaml.safe_dump(record, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1 << 16)
    return [f"# {IR_METADATA_START}", *(f"# {line}" for line in text.splitlines()), f"# {IR_METADATA_END}"]


def read_header(path) -> dict | None:
    """The ir_metadata header of a run file (plain or gzip-compressed), or None when its first line is not
    ``# ir_metadata.start``. A header without its end line or with invalid YAML stops, naming the file and line."""
    import gzip

    import yaml

    path = Path(path)
    with open(path, "rb") as f:
        compressed = f.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rb") if compressed else open(path, "rb") as f:
        if _comment_text(f.readline()) != IR_METADATA_START:
            return None
        lines, lineno = [], 1
        for lineno, raw in enumerate(f, start=2):
            if _comment_text(raw) == IR_METADATA_END:
                break
            text = raw.decode("utf-8", errors="replace")
            if not text.startswith("#"):
                raise InputFormatError(path, "a line of the ir_metadata header is not a '#' line", lineno)
            lines.append(text[2:] if text.startswith("# ") else text[1:])
        else:
            raise InputFormatError(path, f"the ir_metadata header has no '# {IR_METADATA_END}' line", lineno)
    try:
        found = yaml.safe_load("".join(lines))
    except yaml.YAMLError as e:
        raise InputFormatError(path, f"the ir_metadata header is not YAML ({e})") from None
    if not isinstance(found, dict):
        raise InputFormatError(path, "the ir_metadata header is not a mapping")
    return found


def _comment_text(raw: bytes) -> str:
    """A comment line's text after its '#' ('' for any other line): the start and end lines of a header."""
    return raw.strip().decode("utf-8", errors="replace").lstrip("#").strip() if raw.startswith(b"#") else ""


def without_header(path) -> str:
    """A run file's text without its ``#`` lines (what ``grep -v '^#'`` gives): the plain TREC run for a tool that
    does not skip comments (pytrec_eval)."""
    with open_text(path) as f:
        return "".join(line for line in f if not line.startswith("#"))


def read_qrels(path) -> Qrels:
    """Read TREC qrels: ``qid iteration docid grade``. A (qid, docid) judged twice with different grades is an
    error naming both lines; a repeated identical line is allowed and counted in the log."""
    qrels: Qrels = {}
    first_line: dict[tuple[str, str], int] = {}
    repeated = 0
    for lineno, line in _open_lines(path):
        parts = line.split()
        if len(parts) != 4:
            raise InputFormatError(path, f"expected 4 columns 'qid iteration docid grade', got {len(parts)}", lineno)
        qid, _, docid, grade = parts
        try:
            value = int(grade)
        except ValueError:
            raise InputFormatError(path, f"relevance grade {grade!r} is not an integer", lineno) from None
        docs = qrels.setdefault(qid, {})
        if docid in docs:
            if docs[docid] != value:
                raise InputFormatError(
                    path,
                    f"query {qid!r}, document {docid!r} is judged {docs[docid]} on line "
                    f"{first_line[qid, docid]} and {value} here",
                    lineno,
                )
            repeated += 1
        first_line.setdefault((qid, docid), lineno)
        docs[docid] = value
    if repeated:
        log.warning("%s: %d repeated identical judgments (counted once)", path, repeated)
    return qrels


def write_qrels(qrels: Qrels, path):
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for qid in sorted(qrels):
            for docid in sorted(qrels[qid]):
                f.write(f"{qid} 0 {docid} {qrels[qid][docid]}\n")


BOM = "\ufeff"
_BOM_MESSAGE = (
    "starts with a UTF-8 byte-order mark, which would become part of the first id; remove it "
    "(sed -i '1s/^\\xEF\\xBB\\xBF//' FILE)"
)


def _strict_tsv(path, id_name: str, text_name: str):
    """(line, id, text) of a two-column TSV file that ir_datasets reads too: UTF-8 without a byte-order mark, no
    blank lines, exactly one tab per line, a non-empty id, each id once, at least one line."""
    path = Path(path)
    if not path.exists():
        raise InputFormatError(path, "file not found")
    seen: dict[str, int] = {}
    lineno = 0
    with open(path, encoding="utf-8") as f:
        try:
            for lineno, line in enumerate(f, start=1):
                line = line.rstrip("\n")
                if lineno == 1 and line.startswith(BOM):
                    raise InputFormatError(path, _BOM_MESSAGE, 1)
                if not line.strip():
                    raise InputFormatError(path, "blank line (ir_datasets cannot read it); remove it", lineno)
                parts = line.split("\t")
                if len(parts) != 2:
                    raise InputFormatError(
                        path, f"expected 2 tab-separated columns '{id_name}<TAB>{text_name}', got {len(parts)}", lineno
                    )
                key = parts[0]
                if not key.strip():
                    raise InputFormatError(path, f"empty {id_name}", lineno)
                if key in seen:
                    raise InputFormatError(path, f"{id_name} {key!r} appears twice (line {seen[key]} and here)", lineno)
                seen[key] = lineno
                yield lineno, key, parts[1]
        except UnicodeDecodeError as e:
            raise InputFormatError(path, f"not UTF-8 ({e.reason})", lineno + 1) from None
    if not seen:
        raise InputFormatError(path, f"no {id_name}<TAB>{text_name} lines: the file is empty")


def read_queries(path) -> dict[str, str]:
    """Read TSV queries: ``qid<TAB>text`` (strict, see ``_strict_tsv``)."""
    return {qid: text for _, qid, text in _strict_tsv(path, "qid", "text")}


def validate_docs(path) -> int:
    """Check a ``docid<TAB>text`` corpus file as strictly as queries (each docid once); the number of documents."""
    return sum(1 for _ in _strict_tsv(path, "docid", "text"))


def write_tsv(rows: dict[str, str], path):
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for key, text in rows.items():
            f.write(f"{key}\t{text}\n")
