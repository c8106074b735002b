"""Training throughput on a GPU: an ELECTRA-base-sized cross-encoder built from config (no download), the
paper's C batch shape (4 queries x 100 passages per micro-batch, 256 tokens), bf16-mixed, 50 optimizer steps.

    python benchmarks/train_gpu.py --steps 50 --out benchmarks/results/train_gpu.json

Records tokens/s, optimizer steps/s, peak GPU memory and the model FLOPs utilization (MFU): achieved
6 * parameters * tokens per second (forward + backward, attention FLOPs added) over the GPU's peak dense bf16
FLOP/s (--peak-tflops; 989 for an H100/H200 SXM).
"""

import argparse
import json
import time
from pathlib import Path

import torch
from transformers import ElectraConfig, ElectraForSequenceClassification

from stagewise.training.losses import localized_contrastive_loss


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--queries", type=int, default=4)
    parser.add_argument("--group", type=int, default=100)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument("--out", default="benchmarks/results/train_gpu.json")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("no GPU visible: this benchmark measures the bf16 GPU path")
    torch.manual_seed(0)
    config = ElectraConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                           intermediate_size=3072, max_position_embeddings=512, num_labels=1)
    model = ElectraForSequenceClassification(config).cuda().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.01)
    pairs = args.queries * args.group
    ids = torch.randint(1000, 30000, (pairs, args.length), device="cuda")
    mask = torch.ones_like(ids)
    types = torch.zeros_like(ids)
    types[:, 32:] = 1

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            scores = model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits.view(args.queries, -1)
        loss = localized_contrastive_loss(scores.float())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    tokens = args.steps * pairs * args.length
    attention = 12 * config.num_hidden_layers * config.hidden_size * args.length  # per token, fwd + bwd
    flops = tokens * (6 * params + attention)
    result = {
        "command": f"python benchmarks/train_gpu.py --steps {args.steps}", "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__, "parameters": params, "batch": f"{args.queries} queries x {args.group} passages",
        "max_length": args.length, "steps": args.steps, "seconds": round(seconds, 2),
        "steps_per_second": round(args.steps / seconds, 3), "tokens_per_second": round(tokens / seconds),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
        "mfu": round(flops / seconds / (args.peak_tflops * 1e12), 4), "peak_tflops_assumed": args.peak_tflops,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
