"""The paper grid's data paths at MS MARCO size, on synthetic data of the real shapes (a rehearsal).

    python benchmarks/scale.py                  # full size: 8,841,823 passages, 502,939 training queries x 500
    python benchmarks/scale.py --scale 0.001    # the same paths, small (the test suite runs this, untimed)

Writes, deterministically from --seed, under resources/scale-<scale>/ (git-ignored):
  data/docs.tsv                 passages of MS MARCO-like length (about 56 words)
  data/train/{queries.tsv,qrels.txt}     training queries, about 1.06 positives each
  data/devsmall/{queries.tsv,qrels.txt}  6,980 queries, binary qrels
  data/dl19/{queries.tsv,qrels.txt}      43 queries, graded qrels
  __colbert__msmarco-passage-train-judged.run   TAB-separated 'qid 0 docid rank score ColBERT', 500 per query,
                                                fp16-like scores that tie (the Rank-DistiLLM layout)
  marco-train-100k.jsonl, marco-train-100k-gpt3.5.json   100,000 teacher lines in RankGPT's layout, with
                                                about 9.3% malformed permutations (the release kept 90,699)
then runs the workflow's CPU jobs on them through Snakemake with a tiny backbone (the data path is full size,
the model is not): doc_store, training_candidates, bm25_index, BM25 retrieval of devsmall and dl19 at depth 1000,
one C and one D training of a few steps, re-ranking of the top-100, evaluation and significance. Each job's wall
time and peak RSS (Snakemake benchmark files) are written next to its declared mem_mb/runtime to
benchmarks/results/scale-<scale>.md. Generation and every job are cached: rerun the command to resume.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
FULL = {"passages": 8_841_823, "train": 502_939, "teacher": 100_000, "dev": 6_980, "dl": 43}
DEPTH, WORDS, MEAN_WORDS = 500, 100_000, 56
# word frequencies of a truncated Zipf-Mandelbrot law (the most frequent word about 4% of the tokens, as "the")
_RANKS = __import__("numpy").arange(WORDS)
WORD_P = 1.0 / (_RANKS + 2.7) ** 1.07
WORD_P /= WORD_P.sum()
TINY = {
    "architecture": "electra",
    "vocab_size": 2000,
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 1,
    "intermediate_size": 64,
    "max_length": 128,
}


def sizes(scale: float) -> dict[str, int]:
    out = {k: max(1, round(v * scale)) for k, v in FULL.items()}
    out["passages"] = max(out["passages"], 2 * DEPTH)
    out["teacher"] = min(out["teacher"], out["train"])
    out["dl"] = min(43, max(5, out["dl"]))
    return out


def vocabulary(rng) -> np.ndarray:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(3, 10, WORDS)
    return np.array(["".join(rng.choice(letters, n)) for n in lengths], dtype=object)


def write_atomic(path: Path, write):
    """Write through a temporary name; a finished file is kept (the generation resumes file by file)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        write(f)
    tmp.rename(path)


def passage_words(n_passages: int, seed: int):
    """(start, words) chunks: the word ids of passages start..start+len-1 (Zipf-like word frequencies)."""
    rng = np.random.default_rng([seed, 1])
    chunk = 200_000
    for start in range(0, n_passages, chunk):
        n = min(chunk, n_passages - start)
        lengths = np.clip(rng.poisson(MEAN_WORDS, n), 8, 200)
        ids = rng.choice(WORDS, lengths.sum(), p=WORD_P)
        yield start, np.split(ids, np.cumsum(lengths)[:-1])


def generate(folder: Path, scale: float, seed: int) -> dict:
    n = sizes(scale)
    rng = np.random.default_rng(seed)
    words = vocabulary(rng)
    data = folder / "data"
    timings = {}

    def timed(name, fn):
        t = time.time()
        fn()
        timings[name] = round(time.time() - t, 1)

    def docs(f):
        for start, passages in passage_words(n["passages"], seed):
            f.write("".join(f"{start + i}\t{' '.join(words[p])}\n" for i, p in enumerate(passages)))

    timed("docs.tsv", lambda: write_atomic(data / "docs.tsv", docs))

    # queries: 3-8 words of their positive passage (BM25 can find it), positives drawn uniformly
    qrng = np.random.default_rng([seed, 2])
    n_query_sets = {"train": n["train"], "devsmall": n["dev"], "dl19": n["dl"]}
    positives = {name: qrng.integers(0, n["passages"], size) for name, size in n_query_sets.items()}
    seconds = {name: qrng.random(size) < 0.06 for name, size in n_query_sets.items()}  # 1.06 positives on average
    second_ids = {name: qrng.integers(0, n["passages"], size) for name, size in n_query_sets.items()}
    needed = np.unique(np.concatenate(list(positives.values())))
    texts = {}
    query_files = [data / name / "queries.tsv" for name in n_query_sets]
    for start, passages in [] if all(p.exists() for p in query_files) else passage_words(n["passages"], seed):
        lo, hi = np.searchsorted(needed, [start, start + len(passages)])
        for pid in needed[lo:hi]:
            texts[int(pid)] = passages[pid - start]
    offset = {"train": 0, "devsmall": 10_000_000, "dl19": 20_000_000}
    for name in n_query_sets:

        def queries(f, name=name):
            for i, pid in enumerate(positives[name]):
                source = texts[int(pid)]
                take = qrng.choice(len(source), min(len(source), int(qrng.integers(3, 9))), replace=False)
                f.write(f"{offset[name] + i}\t{' '.join(words[source[np.sort(take)]])}\n")

        def qrels(f, name=name):
            for i, pid in enumerate(positives[name]):
                grade = 1 if name != "dl19" else 3
                f.write(f"{offset[name] + i} 0 {pid} {grade}\n")
                if seconds[name][i] and second_ids[name][i] != pid:
                    f.write(f"{offset[name] + i} 0 {second_ids[name][i]} {1 if name != 'dl19' else 2}\n")

        timed(
            f"{name}/queries.tsv", lambda name=name, queries=queries: write_atomic(data / name / "queries.tsv", queries)
        )
        timed(f"{name}/qrels.txt", lambda name=name, qrels=qrels: write_atomic(data / name / "qrels.txt", qrels))

    # the training run: 500 per query, the positive within the top 50 for 90% of the queries, scores fp16-like
    def training_run(f):
        r = np.random.default_rng([seed, 3])
        ranks = np.arange(1, DEPTH + 1)
        scores = np.round(30.0 - np.log1p(ranks) * 2.0, 0)  # heavy ties, as fp16 ColBERTv2 scores
        score_text = [f"{s:.1f}" for s in scores]
        for q0 in range(0, n["train"], 2000):
            out = []
            for q in range(q0, min(q0 + 2000, n["train"])):
                docids = pd.unique(r.integers(0, n["passages"], DEPTH + 40))[:DEPTH]  # distinct, cheaply
                while len(docids) < DEPTH:
                    docids = pd.unique(np.concatenate([docids, r.integers(0, n["passages"], DEPTH)]))[:DEPTH]
                if r.random() < 0.9:
                    at = int(r.integers(0, 50))
                    docids[docids == positives["train"][q]] = docids[at]
                    docids[at] = positives["train"][q]
                out += [f"{q}\t0\t{d}\t{k + 1}\t{score_text[k]}\tColBERT\n" for k, d in enumerate(docids.tolist())]
            f.write("".join(out))

    timed("train.run", lambda: write_atomic(folder / "__colbert__msmarco-passage-train-judged.run", training_run))

    # the teacher: RankGPT's layout, 20 passages with text, about 9.3% malformed permutation strings
    trng = np.random.default_rng([seed, 4])
    teacher_queries = np.sort(trng.choice(n["train"], n["teacher"], replace=False))
    teacher_docs = trng.integers(0, n["passages"], (n["teacher"], 20))

    def candidates(f):
        for qid, docids in zip(teacher_queries.tolist(), teacher_docs.tolist()):
            passages = [
                {
                    "docid": str(d),
                    "title": "",
                    "text": "a passage text of a typical length " * 8,
                    "rank": r + 1,
                    "score": 20.0 - r,
                }
                for r, d in enumerate(docids)
            ]
            f.write(
                json.dumps(
                    {"query_id": str(qid), "query": "a query", "positive_passages": [], "retrieved_passages": passages}
                )
                + "\n"
            )

    def permutations(f):
        out = []
        for _ in range(n["teacher"]):
            order = (trng.permutation(20) + 1).tolist()
            kind = trng.random()
            if kind < 0.06:
                order = order[:19]  # 19 ids
            elif kind < 0.08:
                order[3] = order[2]  # a repeated id (kept, as the release)
            text = " > ".join(f"[{i}]" for i in order)
            out.append(text + "." if 0.08 <= kind < 0.093 else text)  # "... > [17]."
        f.write(json.dumps(out))

    timed(
        "teacher",
        lambda: (
            write_atomic(folder / "marco-train-100k.jsonl", candidates),
            write_atomic(folder / "marco-train-100k-gpt3.5.json", permutations),
        ),
    )
    timed("tiny backbone", lambda: tiny_backbone(folder, data / "docs.tsv"))
    # the first generation's times are kept (a resumed run finds the files and times nothing)
    record = folder / "generation.json"
    saved = json.loads(record.read_text()) if record.exists() else {}
    timings = {k: v if v >= 0.05 or k not in saved else saved[k] for k, v in timings.items()}
    record.write_text(json.dumps(timings, indent=1))
    return {"sizes": n, "generation_s": timings}


def tiny_backbone(folder: Path, docs: Path):
    """The rehearsal's reranker: a 1-layer ELECTRA whose tokenizer is trained on the first 100,000 passages, saved
    as a local checkpoint (the backbone rule would otherwise read the whole corpus to train it; the paper grid's
    backbones are hub checkpoints that read no corpus)."""
    from stagewise.backbones import BackboneSettings, build_backbone

    target = folder / "tiny-backbone"
    if target.exists():
        return
    texts = []
    with open(docs, encoding="utf-8") as f:
        for line in f:
            texts.append(line.rstrip("\n").partition("\t")[2])
            if len(texts) == 100_000:
                break
    build_backbone(BackboneSettings.from_config(TINY), target, texts)


def config() -> dict:
    """The rehearsal's workflow config; paths relative to its folder (the workflow runs there)."""
    return {
        "standalone": True,  # the demo's config/config.yaml is not merged in
        "corpus": "local:data",
        "train_queries": "local:data/train",
        "test_sets": {
            "devsmall": {"dataset": "local:data/devsmall", "relevance_threshold": 1},
            "dl19": {"dataset": "local:data/dl19", "relevance_threshold": 2},
        },
        "teacher": {
            "candidates": "marco-train-100k.jsonl",
            "permutations": "marco-train-100k-gpt3.5.json",
            "ranking_size": 20,
            "malformed": "drop",
            "repeated": "keep",
        },
        "rankers": {"bm25": {"kind": "bm25", "k1": 0.9, "b": 0.4, "depth": 1000}},
        "rerankers": {"tiny": {"pretrained": "./tiny-backbone"}},
        "schedules": ["C", "D"],
        "seeds": [1],
        "training": {
            "C": {
                "steps": 5,
                "queries_per_batch": 4,
                "accumulate_grad_batches": 4,
                "negatives": 99,
                "negatives_run": {
                    "path": "__colbert__msmarco-passage-train-judged.run",
                    "source": "benchmarks/scale.py",
                },
                "negatives_depth": 200,
                "min_positive_grade": 1,
                "positive_policy": "keep",
                "lr": 1.0e-5,
                "max_length": 128,
                "checkpoint_every": 5,
                "validation_fraction": 0.01,
                "validation_seed": 42,
            },
            "D": {
                "steps": 5,
                "queries_per_batch": 16,
                "accumulate_grad_batches": 2,
                "group_size": 20,
                "lr": 1.0e-5,
                "max_length": 128,
                "checkpoint_every": 5,
            },
        },
        "rerank": {"depth": 100, "batch_size": 256, "max_length": 128},
        "evaluation": {"metrics": ["ndcg@10", "mrr@10", "map", "recall@100"], "first_stage_depth": "full"},
    }


BENCHMARKED = {  # rule -> its benchmark files (relative to the run folder)
    "doc_store": "results/benchmarks/data/doc_store/main.tsv",
    "training_candidates": "results/benchmarks/data/training_candidates.tsv",
    "bm25_index": "results/benchmarks/first_stage/bm25_index/*.tsv",
    "bm25_retrieve": "results/benchmarks/first_stage/bm25/*.tsv",
    "train": "results/benchmarks/train/*/*/*.tsv",
    "rerank": "results/benchmarks/rerank/*/*/*/*.tsv",
}


def declared_resources(folder: Path, config_path: Path) -> dict[str, dict]:
    """mem_mb and runtime each rule declares, from a forced dry run's job listing."""
    out = subprocess.run(
        [str(Path(sys.executable).with_name("snakemake")), "-n", "--forceall", "all", "--configfile", str(config_path)],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    declared = {}
    for block in out.stdout.split("\nrule ")[1:]:
        rule = block.split(":", 1)[0].strip()
        m = re.search(r"resources: (.*)", block)
        if m:
            found = dict(re.findall(r"(\w+)=([^,\s]+)", m.group(1)))
            declared[rule] = {"mem_mb": found.get("mem_mb"), "runtime": found.get("runtime")}
    return declared


def markdown(table: pd.DataFrame) -> str:
    rows = [list(map(str, table.columns)), ["---"] * len(table.columns)] + table.astype(str).values.tolist()
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


def report(folder: Path, config_path: Path, scale: float, generated: dict, wall: float, results: Path) -> Path:
    rows = []
    declared = declared_resources(folder, config_path)
    for rule, pattern in BENCHMARKED.items():
        for path in sorted(folder.glob(pattern)):
            b = pd.read_csv(path, sep="\t").iloc[0]
            d = declared.get(rule, {})
            job = path.relative_to(folder / "results" / "benchmarks")
            rows.append(
                {
                    "rule": rule,
                    "job": str(job),
                    "wall_s": round(b["s"], 1),
                    "max_rss_mb": round(b["max_rss"], 0),
                    "declared_mem_mb": d.get("mem_mb"),
                    "declared_runtime_min": d.get("runtime"),
                    "within_memory": b["max_rss"] <= float(d.get("mem_mb") or "inf"),
                }
            )
    table = pd.DataFrame(rows)
    out = results / f"scale-{scale:g}.md"
    import platform

    lines = [
        f"# Data-path rehearsal at scale {scale:g} (`python benchmarks/scale.py --scale {scale:g}`)",
        "",
        f"Machine: {platform.node()}, {platform.processor() or platform.machine()}, "
        f"{__import__('os').cpu_count()} cores; sizes {generated['sizes']}; generation (s): "
        f"{generated['generation_s']}; workflow wall time {wall:.0f} s.",
        "",
        markdown(table) if len(table) else "(no benchmark files)",
        "",
    ]
    out.write_text("\n".join(lines))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the MS MARCO sizes (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument(
        "--folder", type=Path, default=None, help="where the data and the run go (default resources/scale-<scale>)"
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=ROOT / "benchmarks" / "results",
        help="where the table of jobs goes (default benchmarks/results)",
    )
    a = parser.parse_args(argv)
    folder = (a.folder or ROOT / "resources" / f"scale-{a.scale:g}").resolve()
    generated = generate(folder, a.scale, a.seed)
    print(json.dumps(generated), flush=True)
    if a.generate_only:
        return 0
    for name in ("workflow", "envs", "config"):  # the workflow, run in the rehearsal's folder
        target = folder / name
        if not target.exists():
            target.symlink_to(ROOT / name)
    config_path = folder / "scale.yaml"
    config_path.write_text(yaml.safe_dump(config()))
    t = time.time()
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("snakemake")),
            "--cores",
            str(a.cores),
            "all",
            "--configfile",
            str(config_path),
            "--rerun-incomplete",
        ],
        cwd=folder,
    )
    wall = time.time() - t
    if result.returncode != 0:
        return result.returncode
    print(report(folder, config_path, a.scale, generated, wall, a.results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
