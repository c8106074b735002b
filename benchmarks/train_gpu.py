"""Training throughput on a GPU, by hand: an ELECTRA-base-sized cross-encoder built from config (no download), the
paper's C batch shape (4 queries x 100 passages per micro-batch, 256 tokens, 4 accumulated), bf16 autocast, a plain
PyTorch loop over one fixed batch (no data loading, no Lightning): the ceiling the project's training path
(benchmarks/gpu_path.py) is compared with.

    python benchmarks/train_gpu.py --steps 20 --out benchmarks/results/train_gpu.json

Records tokens/s, optimizer steps/s, peak GPU memory and the model FLOPs utilization (MFU): achieved FLOP/s over the
GPU's dense bf16 rate (--peak-tflops; 790 is what an 8192^3 bf16 matrix product reaches on the H200 lent here,
against 989 on the datasheet). FLOPs per token: 6 x the non-embedding parameters (forward + backward; an embedding
lookup is no matrix product) + 12 x layers x hidden x sequence length (attention scores and values, fwd + bwd).
"""

import argparse
import json
import time
from pathlib import Path

import torch

from stagewise.training.losses import localized_contrastive_loss


def electra_base(
    vocab_size: int = 30522, layers: int = 12, hidden: int = 768, heads: int = 12, intermediate: int = 3072
):
    from transformers import ElectraConfig, ElectraForSequenceClassification

    config = ElectraConfig(
        vocab_size=vocab_size,
        embedding_size=hidden,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=512,
        num_labels=1,
    )
    return ElectraForSequenceClassification(config)


def matmul_parameters(model) -> int:
    """Trainable parameters that take part in matrix products (embeddings and LayerNorm/bias vectors aside)."""
    return sum(
        p.numel() for n, p in model.named_parameters() if p.requires_grad and p.dim() == 2 and "embeddings" not in n
    )


def flops_per_token(model, length: int) -> float:
    config = model.config
    return 6 * matmul_parameters(model) + 12 * config.num_hidden_layers * config.hidden_size * length


def hand_loop(
    model, queries: int, group: int, length: int, accumulate: int, steps: int, warmup: int, peak_tflops: float
) -> dict:
    """``steps`` optimizer steps (after ``warmup``) of LCE on one fixed random batch of full-length pairs."""
    device = next(model.parameters()).device
    vocab = model.config.vocab_size
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, weight_decay=0.01)
    pairs = queries * group
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, vocab, (pairs, length), generator=generator).to(device)
    mask = torch.ones_like(ids)
    types = torch.zeros_like(ids)
    types[:, 32:] = 1
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    model.train()

    def step():
        for _ in range(accumulate):
            with autocast:
                scores = model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits.view(queries, -1)
            (localized_contrastive_loss(scores.float()) / accumulate).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    tokens = steps * accumulate * pairs * length
    return {
        "shape": f"{queries} queries x {group} passages, {accumulate} accumulated, {length} tokens",
        "steps": steps,
        "seconds": round(seconds, 3),
        "steps_per_second": round(steps / seconds, 3),
        "tokens_per_second": round(tokens / seconds),
        "matmul_parameters": matmul_parameters(model),
        "mfu": round(tokens * flops_per_token(model, length) / seconds / (peak_tflops * 1e12), 4),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.type == "cuda" else None,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--queries", type=int, default=4)
    parser.add_argument("--group", type=int, default=100)
    parser.add_argument("--accumulate", type=int, default=4)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--peak-tflops", type=float, default=790.0)
    parser.add_argument("--out", default="benchmarks/results/train_gpu.json")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("no GPU visible: this benchmark measures the bf16 GPU path")
    torch.manual_seed(0)
    result = {
        "command": f"python benchmarks/train_gpu.py --steps {args.steps}",
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        **hand_loop(
            electra_base().cuda(),
            args.queries,
            args.group,
            args.length,
            args.accumulate,
            args.steps,
            args.warmup,
            args.peak_tflops,
        ),
        "peak_tflops_assumed": args.peak_tflops,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
