"""`stagewise` console command: the workflow's steps, one subcommand each, for use outside Snakemake."""

from __future__ import annotations

import argparse
import json
import logging
import os


def _need(path, what: str):
    """An input path named on the command line must exist (a clear one-line error instead of a Java or hub one)."""
    from pathlib import Path

    from .errors import InputFormatError

    if path is not None and not Path(path).exists():
        raise InputFormatError(path, f"{what} not found")


def _synthetic(a):
    from .data.synthetic import SyntheticSpec, write_dataset

    write_dataset(SyntheticSpec(seed=a.seed, n_passages=a.passages), a.out)


def _trecdl(a):
    from .data.trec_dl import prepare_trec_dl, shared_data_dir

    summary = prepare_trec_dl(a.source or shared_data_dir(), a.out, a.depth)
    print(json.dumps(summary["runs"]))


def _index(a):
    from .first_stage.bm25 import index_corpus

    index_corpus(a.corpus, a.index, threads=a.threads)


def _retrieve(a):
    from .first_stage.bm25 import Bm25Settings, retrieve

    _need(a.index, "index folder (argument index)")
    settings = Bm25Settings.from_config({"kind": "bm25", "k1": a.k1, "b": a.b, "depth": a.depth})
    retrieve(a.index, a.queries, a.out, settings, threads=a.threads)


def _train(a):
    import yaml

    from .config import validate_config
    from .grid import TEACHER_MARKER, marked_teachers
    from .provenance import set_job
    from .settings import cell_training
    from .training.trainer import StagePaths, TrainingFiles, train_from_files

    _need(a.config, "config file (--config)")
    _need(a.init, "initial model folder (argument init)")
    _need(a.run, "first-stage run (--run)")
    with open(a.config, encoding="utf-8") as f:
        config = validate_config(yaml.safe_load(f))
    set_job(config)  # the model's provenance record names the config's hash
    # the one-stage cell: C, or D (D@<teacher> with two or more teachers: its loss and files)
    marked = a.stage == "D" and a.teacher is not None and marked_teachers(config)
    training = cell_training(config, f"D{TEACHER_MARKER}{a.teacher}" if marked else a.stage)
    files = TrainingFiles(config["train_queries"], config["corpus"], run=a.run, teacher=training.teacher)
    train_from_files(training.stage, files, StagePaths(a.init, a.out, a.work_dir), a.seed, a.threads)


def _rerank(a):
    from .data.texts import Corpus
    from .rerank import RerankJob, rerank_files
    from .settings import RerankSettings

    _need(a.model, "model folder (argument model)")
    _need(a.run, "run file (argument run)")
    settings = RerankSettings.of(depth=a.depth, batch_size=a.batch_size, max_length=a.max_length, head_precision=a.head)
    rerank_files(a.model, [RerankJob(a.run, a.queries, a.out)], Corpus(a.corpus), settings, a.threads)


def _evaluate(a):
    from .data import datasets
    from .evaluation.metrics import check_run_covers, per_query_metrics
    from .io import read_run

    qrels, run = datasets.qrels(a.qrels), read_run(a.run)
    check_run_covers(run, qrels, a.run, a.qrels)
    frame = per_query_metrics(qrels, run, a.metrics, a.relevance_threshold)
    print(json.dumps(frame.groupby("metric", sort=False)["value"].mean().round(4).to_dict()))


def _table(a):
    from .reporting.significance import compare
    from .reporting.table import main_table, markdown_table, read_metrics, write_csv
    from .settings import SignificanceSettings

    per_query = read_metrics(a.metrics)
    significance = compare(per_query, SignificanceSettings.of(test=a.test, correction=a.correction))
    table = main_table(per_query, significance)
    write_csv(table, a.out)
    print(markdown_table(table, list(dict.fromkeys(table["metric"]))))


def _provenance(a):
    import yaml

    from .provenance import read

    found = read(a.file)
    if a.json:
        print(json.dumps(found, indent=1, ensure_ascii=False))
    else:
        print(
            yaml.safe_dump(found, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1 << 16), end=""
        )


from .evaluation.metrics import METRICS  # noqa: E402  (a constant; the module imports ranx only when evaluating)


def _positive(text: str) -> int:
    """An integer of at least 1 (a depth, a batch size, a length, a count)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def _colbert_extensions(a):
    from .first_stage.colbert import build_extensions

    print(build_extensions(a.processes))


def build_parser() -> argparse.ArgumentParser:
    """The command line; its defaults are the config schema's (one place a default lives)."""
    from .locations import CLI_CHECKPOINTS
    from .settings import schema_choices, schema_default

    SYNTHETIC, BM25, RERANK = ("synthetic",), ("definitions", "bm25_ranker"), ("rerank",)
    EVALUATION, SIGNIFICANCE = ("evaluation",), ("significance",)
    parser = argparse.ArgumentParser(prog="stagewise", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("synthetic", help="write the synthetic demo dataset folder")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=schema_default(SYNTHETIC, "seed"))
    p.add_argument("--passages", type=_positive, default=schema_default(SYNTHETIC, "n_passages"))
    p.set_defaults(func=_synthetic)
    p = sub.add_parser("trecdl", help="TREC DL 2019/2020 dataset folders and first-stage runs from the shared files")
    p.add_argument("out")
    p.add_argument("--source", help="the shared data folder (default: $STAGEWISE_SHARED_DATA or ../shared/data)")
    p.add_argument(
        "--depth",
        type=_positive,
        default=schema_default(("trec_dl",), "depth"),
        help="cut every run here before dropping passages without text",
    )
    p.set_defaults(func=_trecdl)
    p = sub.add_parser("index", help="build a Lucene index of a corpus (ir_datasets id or local:<folder>)")
    p.add_argument("corpus")
    p.add_argument("index")
    p.add_argument("--threads", type=_positive, default=1)
    p.set_defaults(func=_index)
    p = sub.add_parser("retrieve", help="BM25 top-k of a query set as a TREC run")
    p.add_argument("index")
    p.add_argument("queries")
    p.add_argument("out")
    p.add_argument("--k1", type=float, default=schema_default(BM25, "k1"))
    p.add_argument("--b", type=float, default=schema_default(BM25, "b"))
    p.add_argument("--depth", type=_positive, default=schema_default(BM25, "depth"))
    p.add_argument("--threads", type=_positive, default=1)
    p.set_defaults(func=_retrieve)
    p = sub.add_parser("train", help="train one stage (C or D) with the hyperparameters of a workflow config")
    p.add_argument("stage", choices=["C", "D"])
    p.add_argument("init")
    p.add_argument("out")
    p.add_argument("--config", default="config/config.yaml")
    p.add_argument("--run", help="first-stage run (C)")
    p.add_argument("--teacher", help="D with a config's teachers (two or more): the one to distil")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--work-dir",
        default=str(CLI_CHECKPOINTS),
        help="where checkpoints are kept until the model is written (a rerun resumes from them)",
    )
    p.add_argument("--threads", type=_positive, default=1)
    p.set_defaults(func=_train)
    p = sub.add_parser("rerank", help="re-rank a first-stage run with a model folder")
    p.add_argument("model")
    p.add_argument("run")
    p.add_argument("queries")
    p.add_argument("corpus")
    p.add_argument("out")
    p.add_argument("--depth", type=_positive, default=schema_default(RERANK, "depth"))
    p.add_argument("--batch-size", type=_positive, default=schema_default(RERANK, "batch_size"))
    p.add_argument("--max-length", type=_positive, default=schema_default(RERANK, "max_length"))
    p.add_argument("--threads", type=_positive, default=1)
    p.add_argument(
        "--head",
        choices=schema_choices(RERANK, "head_precision"),
        default=schema_default(RERANK, "head_precision"),
        help="the classification head's precision when the model runs in bf16 (a GPU): fp32 on upcast "
        "hidden states, or bf16 like the body (the released code's scoring: its scores tie)",
    )
    p.set_defaults(func=_rerank)
    p = sub.add_parser("evaluate", help="mean metrics of a run (ties by docid, binary metrics at the threshold)")
    p.add_argument("run")
    p.add_argument("qrels", help="dataset with qrels (ir_datasets id or local:<folder>)")
    p.add_argument(
        "--metrics",
        nargs="+",
        default=schema_default(EVALUATION, "metrics"),
        choices=METRICS,
        metavar="METRIC",
        help=f"any of {', '.join(METRICS)}",
    )
    p.add_argument("--relevance-threshold", type=_positive, default=schema_default(EVALUATION, "relevance_threshold"))
    p.set_defaults(func=_evaluate)
    p = sub.add_parser("table", help="main table (seed statistics, significance markers) from per-query metric files")
    p.add_argument("out")
    p.add_argument("metrics", nargs="+")
    p.add_argument("--test", choices=schema_choices(SIGNIFICANCE, "test"), default=schema_default(SIGNIFICANCE, "test"))
    p.add_argument(
        "--correction",
        choices=schema_choices(SIGNIFICANCE, "correction"),
        default=schema_default(SIGNIFICANCE, "correction"),
    )
    p.set_defaults(func=_table)
    p = sub.add_parser(
        "colbert-extensions",
        help="compile colbert-ai's C++ extensions for the CPU into the extensions cache, in parallel (else the first "
        "ColBERT index job on a machine without a GPU does)",
    )
    p.add_argument("--processes", type=_positive, default=2)
    p.set_defaults(func=_colbert_extensions)
    p = sub.add_parser(
        "provenance",
        help="print the provenance record of a run file (its ir_metadata header), a "
        "model folder or a table (provenance.json)",
    )
    p.add_argument("file", help="a run file, a model folder or a file in one, a table, results/tables")
    p.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    p.set_defaults(func=_provenance)
    return parser


def main(argv=None):
    from .errors import StagewiseError

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        args.func(args)
    except (StagewiseError, FileNotFoundError) as e:
        if os.environ.get("STAGEWISE_DEBUG"):
            raise
        # a user's error: one line naming the file, line, key or argument, like argparse's own errors
        parser.exit(2, f"stagewise {args.command}: error: {e}\n")


if __name__ == "__main__":
    main()
