"""A trained model folder carries a model card and loads in sentence-transformers' CrossEncoder with our scores."""

import pytest

from stagewise.backbones import build_backbone
from stagewise.data import datasets

from ..training.adapters import contrastive, train
from ..training.test_trainer import HPARAMS, TINY


@pytest.fixture(scope="module")
def trained(tmp_path_factory, request):
    from stagewise.data.synthetic import SyntheticSpec, write_dataset

    tmp = tmp_path_factory.mktemp("card")
    folder = write_dataset(
        SyntheticSpec(seed=3, n_passages=300, n_topics=4, concepts_per_topic=10, splits={"train": 20, "test": 4}),
        tmp / "synthetic",
    )
    spec = f"local:{folder / 'train'}"
    texts, qrels = dict(datasets.iter_docs(spec)), datasets.qrels(spec)
    run = {q: {**dict.fromkeys(judged, 1.0), **{f"d{i}": 0.5 for i in range(30)}} for q, judged in qrels.items()}
    data = contrastive(datasets.queries(spec), qrels, run, texts, negatives=3, negatives_depth=30, min_positive_grade=2)
    backbone = build_backbone(TINY, tmp / "backbone", texts.values())
    c = train(
        "C",
        backbone,
        data,
        tmp / "C",
        tmp / "w1",
        {**HPARAMS, "steps": 3},
        seed=1,
        data_files=[folder / "train" / "qrels.txt"],
    )
    cd = train("C", c, data, tmp / "C-D", tmp / "w2", {**HPARAMS, "steps": 2}, seed=1)
    return c, cd, texts


def test_a_model_loads_in_cross_encoder_with_our_scores_and_max_length(trained):
    from sentence_transformers import CrossEncoder

    from stagewise.rerank import load_cross_encoder, score_pairs
    from stagewise.settings import RerankSettings

    folder, _, texts = trained
    # long pairs: truncation at the model's max length (64 tokens) must be the same on both sides
    pairs = [(f"query about {t[:30]}", t * 3) for t in list(texts.values())[:12]]
    model, tokenizer = load_cross_encoder(folder, device="cpu")
    ours = score_pairs(model, tokenizer, pairs, RerankSettings.of(batch_size=4, max_length=64))
    cross = CrossEncoder(str(folder), device="cpu")
    assert cross.max_length == 64
    theirs = cross.predict(pairs, batch_size=5, convert_to_numpy=True).tolist()
    assert theirs == pytest.approx(ours, abs=1e-5)  # raw logits: no sigmoid
    assert min(ours) < 0 or max(ours) > 1 or len(set(round(s, 5) for s in ours)) > 1


def test_the_card_says_how_the_model_was_trained_and_the_grid_card_adds_its_metrics(trained, tmp_path):
    import pandas as pd

    from stagewise.reporting.model_card import write_model_cards

    c, cd, _ = trained
    card = (c / "README.md").read_text()
    assert "schedule C" in card and "| `lr` | `0.002` |" in card and "qrels.txt" in card
    assert "schedule C-C" in (cd / "README.md").read_text()  # a stage-2 model names its lineage
    metrics = pd.DataFrame(
        {
            "ranker": ["bm25"] * 4,
            "reranker": ["electra"] * 4,
            "schedule": ["C"] * 4,
            "seed": ["1"] * 4,
            "dataset": ["dl19"] * 4,
            "qid": ["1", "2", "1", "2"],
            "metric": ["ndcg@10", "ndcg@10", "map", "map"],
            "value": [0.5, 0.7, 0.2, 0.4],
        }
    )
    metrics.to_csv(tmp_path / "bm25.tsv", sep="\t", index=False)
    out = write_model_cards(
        {("electra", "C", 1): c, ("electra", "D", 1): cd}, [tmp_path / "bm25.tsv"], tmp_path / "cards"
    )
    text = (out / "electra" / "C" / "seed1.md").read_text()
    assert "| ranker | dataset | map | ndcg@10 |" in text and "| bm25 | dl19 | 0.3000 | 0.6000 |" in text
    assert "No evaluation of this model was found." in (out / "electra" / "D" / "seed1.md").read_text()


def test_the_grid_card_adds_the_other_checkpoints_metrics_where_they_were_compared(trained, tmp_path):
    import shutil

    import pandas as pd

    from stagewise.reporting.model_card import write_model_cards

    model = shutil.copytree(trained[0], tmp_path / "model")
    (model / "checkpoints" / "best").mkdir(parents=True)  # the folder keeps its best weights beside the last
    rows = {"ranker": "bm25", "reranker": "electra", "schedule": "C", "seed": "1", "dataset": "dl19", "metric": "map"}
    pd.DataFrame([{**rows, "qid": "1", "value": 0.2}]).to_csv(tmp_path / "bm25.tsv", sep="\t", index=False)
    pd.DataFrame([{**rows, "qid": "1", "value": 0.25}]).to_csv(tmp_path / "other.tsv", sep="\t", index=False)
    models = {("electra", "C", 1): model, ("electra", "D", 1): trained[1]}
    out = write_model_cards(models, [tmp_path / "bm25.tsv"], tmp_path / "cards", [tmp_path / "other.tsv"])
    text = (out / "electra" / "C" / "seed1.md").read_text()
    selected, other = text.split("## Effectiveness of the best checkpoint (`checkpoints/best`)")
    assert "| bm25 | dl19 | 0.2000 |" in selected and "| bm25 | dl19 | 0.2500 |" in other
    assert "checkpoint (`checkpoints/" not in (out / "electra" / "D" / "seed1.md").read_text()  # it keeps none
    without = write_model_cards(models, [tmp_path / "bm25.tsv"], tmp_path / "cards2")
    assert "checkpoints/best" not in (without / "electra" / "C" / "seed1.md").read_text()
