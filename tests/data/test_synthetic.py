from stagewise.data.synthetic import SyntheticSpec, generate, grade
from stagewise.io import read_qrels


def test_same_seed_same_collection_and_other_seed_differs():
    spec = SyntheticSpec(seed=5, n_passages=300, n_topics=3, concepts_per_topic=8, splits={"train": 10})
    docs1, splits1 = generate(spec)
    docs2, splits2 = generate(spec)
    assert docs1 == docs2 and splits1 == splits2
    docs3, _ = generate(SyntheticSpec(seed=6, n_passages=300, n_topics=3, concepts_per_topic=8, splits={"train": 10}))
    assert docs3 != docs1


def test_grades():
    assert grade([1, 2, 3], [1, 2, 3, 9], True) == 3
    assert grade([1, 2, 3], [1, 2], True) == 2
    assert grade([1, 2], [2], True) == 1
    assert grade([1, 2, 3], [1], True) == 0
    assert grade([1, 2, 3], [1, 2, 3], False) == 0


def test_dataset_folder_has_graded_qrels_for_every_query(tiny_dataset):
    qrels = read_qrels(tiny_dataset / "test" / "qrels.txt")
    assert len(qrels) == 8
    grades = {g for q in qrels.values() for g in q.values()}
    assert 3 in grades and 0 in grades
    assert all(any(g == 3 for g in q.values()) for q in qrels.values())  # the anchor passage
    assert (tiny_dataset / "docs.tsv").read_text().count("\n") == 600


def test_filler_per_passage_is_a_config_key_that_shortens_passages_and_a_reversed_range_stops():
    from pathlib import Path

    import pytest
    import yaml

    from stagewise.config import validate_config
    from stagewise.data.synthetic import spec_from_config
    from stagewise.errors import ConfigError

    base = {"seed": 5, "n_passages": 300, "n_topics": 3, "concepts_per_topic": 8, "splits": {"train": 10}}
    words = {}
    for filler in ([6, 12], [2, 6], [0, 0]):
        docs, _ = generate(spec_from_config({**base, "filler_per_passage": filler}))
        words[tuple(filler)] = sum(len(text.split()) for text in docs.values()) / len(docs)
    assert words[(6, 12)] > words[(2, 6)] + 3 > words[(0, 0)] + 3  # on average 9, 4 and 0 filler words a passage
    with pytest.raises(ConfigError, match=r"'synthetic.filler_per_passage': the fewest \(6\) exceeds the most \(2\)"):
        spec_from_config({**base, "filler_per_passage": [6, 2]})
    with pytest.raises(ConfigError, match="filler_per_passage"):  # the schema: two counts, none negative
        demo = yaml.safe_load((Path(__file__).parents[2] / "config" / "config.yaml").read_text())
        validate_config({**demo, "synthetic": {**base, "filler_per_passage": [3, -1]}})
