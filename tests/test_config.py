import copy

import pytest
import yaml

from stagewise.config import validate_config
from stagewise.errors import ConfigError

from .conftest import ROOT

DEMO = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def config(**changes):
    c = copy.deepcopy(DEMO)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = c
        for p in parents:
            node = node[p]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return c


def test_demo_config_is_valid_and_defaults_are_filled():
    c = validate_config(config())
    assert c["training"]["C"]["gradient_clip_val"] == 10.0
    assert c["evaluation"]["relevance_threshold"] == 2


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigError, match=r"'training\.C\.lr': '1e-5' is not of type 'number'"):
        validate_config(config(training__C__lr="1e-5"))


def test_unknown_key_names_the_key():
    with pytest.raises(ConfigError, match=r"unknown config key 'training\.D\.stepz'"):
        validate_config(config(training__D__stepz=3))


def test_missing_required_key_names_the_key():
    with pytest.raises(ConfigError, match=r"missing required config key 'seeds'"):
        validate_config(config(seeds=KeyError))
    with pytest.raises(ConfigError, match=r"missing required config key 'test_sets\.test\.dataset'"):
        validate_config(config(test_sets={"test": {"relevance_threshold": 1}}))


def test_unknown_schedule_is_rejected():
    with pytest.raises(ConfigError, match=r"'schedules\.1'"):
        validate_config(config(schedules=["C", "C-C"]))


def test_negatives_ranker_must_exist():
    with pytest.raises(ConfigError, match="negatives_ranker"):
        validate_config(config(training__C__negatives_ranker="splade"))


def test_ranker_kinds_fill_their_own_defaults():
    c = validate_config(config())
    assert c["rankers"]["bm25"]["k1"] == 0.9 and "nbits" not in c["rankers"]["bm25"]
    assert c["rankers"]["colbert"]["query_maxlen"] == 32 and "k1" not in c["rankers"]["colbert"]


def test_a_key_of_another_ranker_kind_is_rejected():
    with pytest.raises(ConfigError, match=r"unknown config key 'rankers\.bm25\.nbits'"):
        validate_config(config(rankers__bm25__nbits=2))


def test_a_ranker_needs_a_kind():
    with pytest.raises(ConfigError, match=r"missing required config key 'rankers\.bm25\.kind'"):
        validate_config(config(rankers__bm25__kind=KeyError))


def test_colbert_takes_a_checkpoint_or_an_encoder_not_both():
    with pytest.raises(ConfigError, match=r"'rankers\.colbert': give either 'checkpoint' or 'encoder'"):
        validate_config(config(rankers__colbert__checkpoint="colbert-ir/colbertv2.0"))


def test_a_run_ranker_must_cover_every_test_set():
    runs = {"kind": "run", "runs": {"train": "splade/train.run"}}
    with pytest.raises(ConfigError, match=r"'rankers\.splade\.runs' has no run for the test sets \['test'\]"):
        validate_config(config(rankers__splade=runs))


def test_a_run_ranker_used_for_negatives_needs_a_training_run():
    runs = {"kind": "run", "runs": {"test": "test.run"}}
    with pytest.raises(ConfigError, match=r"needs a 'train' run: training\.C\.negatives_ranker"):
        validate_config(config(rankers__splade=runs, training__C__negatives_ranker="splade"))


def test_report_metrics_must_be_evaluated():
    with pytest.raises(ConfigError, match=r"'report\.metrics': \['ndcg@20'\] are not in evaluation\.metrics"):
        validate_config(config(report={"metrics": ["ndcg@20"]}))


def test_a_teacher_is_a_run_or_rankgpt_files():
    with pytest.raises(ConfigError, match=r"'teacher': give 'run', or both 'candidates' and 'permutations'"):
        validate_config(config(teacher__permutations=KeyError))


def test_a_second_stage_entry_replaces_only_the_keys_it_gives():
    from stagewise.settings import cell_stage

    c = validate_config(config(training__second_stage={"C-D": {"lr": 6.0e-12, "epochs": 2}}))
    assert c["training"]["second_stage"]["C-D"] == {"lr": 6.0e-12, "epochs": 2}  # no defaults filled in
    d = c["training"]["D"]
    assert cell_stage(c, "C-D").as_dict() == {
        **{k: v for k, v in d.items() if k != "steps"},
        "lr": 6.0e-12,
        "epochs": 2,
    }
    assert cell_stage(c, "D-C").as_dict() == c["training"]["C"] and cell_stage(c, "D").as_dict() == d
    with pytest.raises(ConfigError, match=r"unknown config key 'training\.second_stage\.C-D\.lrr'"):
        validate_config(config(training__second_stage={"C-D": {"lrr": 1.0e-5}}))


def test_a_second_stage_sweep_makes_one_cell_per_setting_each_from_the_same_stage_one_model():
    from stagewise.grid import grid_cells, last_stage, stage_one_schedule
    from stagewise.settings import cell_stage, cell_training

    sweep = [{}, {"lr": 6.0e-12}, {"lr": 1.0e-5, "steps": 50}]
    c = validate_config(config(training__second_stage={"C-D": sweep}))
    assert grid_cells(c) == ["C", "D", "C-D", "C-D_lr6e-12", "C-D_lr1e-05_steps50", "D-C"]
    d = c["training"]["D"]
    assert cell_stage(c, "C-D").as_dict() == d
    assert cell_stage(c, "C-D_lr6e-12").as_dict() == {**d, "lr": 6.0e-12}
    assert cell_stage(c, "C-D_lr1e-05_steps50").as_dict() == {**d, "lr": 1.0e-5, "steps": 50}
    assert {last_stage(s) for s in grid_cells(c)[2:5]} == {"D"}
    assert {stage_one_schedule(s) for s in grid_cells(c)[2:5]} == {"C"} and stage_one_schedule("C") is None
    assert cell_training(c, "C-D_lr6e-12").determinants != cell_training(c, "C-D").determinants
    with pytest.raises(
        ConfigError, match=r"'training\.second_stage\.C-D': two entries make the same cell 'C-D_lr1e-05'"
    ):
        validate_config(config(training__second_stage={"C-D": [{"lr": 1.0e-5}, {"lr": 1.0e-5}]}))
    with pytest.raises(ConfigError, match="is not a cell of this config"):
        cell_stage(c, "C-D_lr0.1")


def test_equivalence_margins_are_per_evaluated_metric_in_either_spelling():
    c = validate_config(config(significance={"equivalence_margins": {"nDCG@10": 0.01, "mrr@10": 0.02}}))
    assert c["significance"]["equivalence_margins"] == {"ndcg@10": 0.01, "mrr@10": 0.02}
    assert c["significance"]["power"] == 0.8
    with pytest.raises(ConfigError, match=r"'significance\.equivalence_margins\.ndcg@5': ndcg@5 is not in evaluation"):
        validate_config(config(significance={"equivalence_margins": {"ndcg@5": 0.01}}))
    with pytest.raises(ConfigError, match=r"'significance\.equivalence_margins\.ndcg@10'"):
        validate_config(config(significance={"equivalence_margins": {"ndcg@10": -0.01}}))


def test_test_sets_take_their_own_relevance_threshold():
    from stagewise.config import relevance_thresholds, test_set_dataset

    c = validate_config(config(test_sets={"dl": "local:x", "dev": {"dataset": "local:y", "relevance_threshold": 1}}))
    assert relevance_thresholds(c) == {"dl": 2, "dev": 1}
    assert [test_set_dataset(s) for s in c["test_sets"].values()] == ["local:x", "local:y"]


def test_an_existing_training_run_replaces_the_negatives_ranker():
    run = {"path": "resources/train.run", "source": "somewhere"}
    validate_config(config(training__C__negatives_run=run, training__C__negatives_ranker=KeyError))
    with pytest.raises(ConfigError, match=r"give 'negatives_run' or 'negatives_ranker', not both"):
        validate_config(config(training__C__negatives_run=run))


def test_a_reference_section_needs_cells_or_a_file():
    with pytest.raises(ConfigError, match=r"'reference': give 'cells', a 'file', or both"):
        validate_config(config(reference={"name": "x"}))


def test_first_stage_metrics_at_the_reranking_depth_or_over_the_whole_run(tmp_path):
    from stagewise.config import first_stage_depth
    from stagewise.evaluation.metrics import per_query_metrics

    assert first_stage_depth(validate_config(config())) == 100
    assert first_stage_depth(validate_config(config(evaluation__first_stage_depth="full"))) is None
    qrels = {"q": {"d1": 2, "d150": 2}}
    run = {"q": {f"d{i}": 1000.0 - i for i in range(1, 201)}}
    at = {d: per_query_metrics(qrels, run, ["map"], 2, depth=d)["value"].item() for d in (100, None)}
    assert at[100] == pytest.approx(0.5) and at[None] == pytest.approx((1 + 2 / 150) / 2)


def test_seeds_must_be_integers_not_floats():
    with pytest.raises(ConfigError, match=r"'seeds\.0': 1\.0 is not of type 'integer'"):
        validate_config(config(seeds=[1.0]))


def test_a_test_set_named_train_is_refused():
    with pytest.raises(ConfigError, match=r"'test_sets\.train': 'train' is the name of the training queries"):
        validate_config(config(test_sets={"train": "local:x"}))


def test_a_pretrained_path_that_does_not_exist_is_named(tmp_path):
    missing = str(tmp_path / "models" / "electra-base")
    with pytest.raises(ConfigError, match=rf"'rerankers\.electra\.pretrained': the folder '{missing}' does not exist"):
        validate_config(config(rerankers={"electra": {"pretrained": missing}}))
    validate_config(config(rerankers={"electra": {"pretrained": "google/electra-base-discriminator"}}))
    (tmp_path / "models" / "electra-base").mkdir(parents=True)
    validate_config(config(rerankers={"electra": {"pretrained": missing}}))


def test_a_key_given_twice_in_a_config_file_is_refused_with_file_and_line(tmp_path):
    from stagewise.config import check_config_files

    text = (ROOT / "config" / "config.yaml").read_text()
    check_config_files([ROOT / "config" / "config.yaml", ROOT / "config" / "paper.yaml"])  # anchors and merges pass
    path = tmp_path / "my.yaml"
    path.write_text(text.replace("  relevance_threshold: 2\n", "  relevance_threshold: 2\n  relevance_threshold: 1\n"))
    line = path.read_text().splitlines().index("  relevance_threshold: 1") + 1
    with pytest.raises(ConfigError, match=rf"my\.yaml:{line}: config key 'relevance_threshold' is given twice"):
        check_config_files([path])


def test_a_claims_metric_is_spelt_our_way_and_an_unknown_metric_stops():
    from stagewise.config import validate_config
    from stagewise.errors import ConfigError

    def with_claim(**claim):
        config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
        config["claims"] = [{"name": "x", "a": "D", "b": "C", "expect": "worse", **claim}]
        return validate_config(config)

    assert with_claim(metric="nDCG@10")["claims"][0]["metric"] == "ndcg@10"  # ir_measures' spelling is ours
    assert with_claim(a="C-X")["claims"][0]["a"] == "C-X"  # not in this grid: reported as not checked
    with pytest.raises(ConfigError, match="config key 'claims.0.metric': "):
        with_claim(metric="ndcg@ten")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c["training"]["C"].update(epochs=1), "config key 'training.C': give 'steps' or 'epochs', not both"),
        (
            lambda c: c["training"]["second_stage"].update({"D-C": {"steps": 5, "epochs": 1}}),
            "config key 'training.second_stage.D-C': give 'steps' or 'epochs', not both",
        ),
        (
            lambda c: c["significance"]["equivalence_margins"].update({"nDCG@10": 0.02}),
            "is ndcg@10, which already has a margin",
        ),
        (
            lambda c: c["significance"].update(equivalence_margins={"RR(rel=1)@10": 0.01}),
            "counts grades >= 1 as relevant, but test set",
        ),
        (lambda c: [r.update(rerank=False) for r in c["rankers"].values()], "no ranker is re-ranked"),
    ],
)
def test_settings_that_would_be_ignored_or_fail_late_stop_at_config_time(change, message):
    config = copy.deepcopy(DEMO)
    change(config)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_config(config)


def test_a_config_file_that_is_not_yaml_names_its_file_line_and_column(tmp_path):
    from stagewise.config import check_config_files

    bad = tmp_path / "my.yaml"
    bad.write_text("seeds: [1, 2\nschedules: [C]\n")
    with pytest.raises(ConfigError, match=r"my.yaml:2:\d+: not valid YAML: "):
        check_config_files([bad])


def test_a_test_set_named_main_with_a_corpus_of_its_own_stops():
    config = copy.deepcopy(DEMO)
    config["test_sets"]["main"] = {"dataset": "local:data/vaswani/test", "corpus": "local:data/vaswani"}
    with pytest.raises(
        ConfigError, match="config key 'test_sets.main': a test set with its own corpus cannot be named"
    ):
        validate_config(config)


def two_teachers(**scores):
    """The demo with its ranking teacher and the simulated teacher's scores as two teachers (scores: keys of the
    second)."""
    c = config(teacher=KeyError)
    c["teachers"] = {
        "rankgpt": copy.deepcopy(DEMO["teacher"]),
        "scores": {"labels": "scores", "run": "resources/teacher/synthetic/train-scores.run", **scores},
    }
    return c


DEMO_VALID = validate_config(config())


def test_the_grid_functions_read_a_cells_teacher_marker():
    from stagewise.grid import last_stage, schedule_of, stage_one_schedule, teacher_of, without_teacher

    cells = ["C", "D", "C-D_lr1e-08", "D@rankgpt", "C-D@scores", "C-D@rankgpt_lr1e-08", "D-C@scores_lr1e-05_steps50"]
    assert [schedule_of(c) for c in cells] == ["C", "D", "C-D", "D", "C-D", "C-D", "D-C"]
    assert [teacher_of(c) for c in cells] == [None, None, None, "rankgpt", "scores", "rankgpt", "scores"]
    assert [last_stage(c) for c in cells] == ["C", "D", "D", "D", "D", "D", "C"]
    # C-D's stage 1 is the one C model; D-C's the D model of the same teacher
    assert [stage_one_schedule(c) for c in cells] == [None, None, "C", None, "C", "C", "D@scores"]
    assert without_teacher("C-D@rankgpt_lr1e-08") == "C-D_lr1e-08" and without_teacher("D") == "D"


def test_two_teachers_make_every_schedule_with_a_d_stage_a_cell_per_teacher():
    from stagewise.grid import grid_cells, model_cells
    from stagewise.settings import cell_training

    c = validate_config(two_teachers(loss="margin_mse"))
    assert grid_cells(DEMO_VALID) == [
        "C",
        "D",
        "C-D",
        "C-D_lr6e-12_steps40",
        "D-C",
    ]  # one teacher: the names as they were
    assert grid_cells(c) == [
        "C",
        "D@rankgpt",
        "D@scores",
        "C-D@rankgpt",
        "C-D@rankgpt_lr6e-12_steps40",
        "C-D@scores",
        "C-D@scores_lr6e-12_steps40",
        "D-C@rankgpt",
        "D-C@scores",
    ]
    assert model_cells(c) == grid_cells(c)
    rankgpt, scores = cell_training(c, "C-D@rankgpt_lr6e-12_steps40"), cell_training(c, "C-D@scores_lr6e-12_steps40")
    assert (rankgpt.stage.loss, scores.stage.loss) == ("ranknet", "margin_mse")  # the teacher's loss replaces D's
    assert (rankgpt.stage.lr, scores.stage.lr) == (6.0e-12, 6.0e-12)  # the sweep's setting applies to both
    assert scores.teacher.files() == ["resources/teacher/synthetic/train-scores.run"]
    assert rankgpt.determinants != scores.determinants
    assert cell_training(c, "D-C@scores").teacher is None  # its last stage is C
    for cell in ("D", "D@other", "C@rankgpt"):
        with pytest.raises(ConfigError, match="is not a cell of this config"):
            cell_training(c, cell)
    # one entry under teachers: the names of a single teacher, its loss applied
    one = config(teacher=KeyError)
    one["teachers"] = {"scores": two_teachers(loss="kl")["teachers"]["scores"]}
    one = validate_config(one)
    assert grid_cells(one) == grid_cells(DEMO_VALID) and cell_training(one, "D").stage.loss == "kl"


def test_teacher_and_teachers_together_stop_naming_both():
    c = two_teachers()
    c["teacher"] = copy.deepcopy(DEMO["teacher"])
    with pytest.raises(ConfigError, match=r"config keys 'teacher' and 'teachers'"):
        validate_config(c)


@pytest.mark.parametrize("name", ["a_b", "a@b", "-a", "a.b"])
def test_a_teacher_name_is_letters_digits_and_dashes(name):
    c = two_teachers()
    c["teachers"][name] = c["teachers"].pop("scores")
    with pytest.raises(ConfigError, match=rf"config key 'teachers': '{name}' does not match"):
        validate_config(c)


def test_a_teachers_loss_must_be_one_its_labels_give_and_its_keys_are_named():
    c = two_teachers()
    c["teachers"]["rankgpt"]["loss"] = "kl"
    with pytest.raises(ConfigError, match=r"config key 'teachers\.rankgpt\.loss': kl distils the teacher's scores"):
        validate_config(c)
    bad = two_teachers()
    del bad["teachers"]["scores"]["run"]
    with pytest.raises(ConfigError, match=r"config key 'teachers\.scores': give 'run'"):
        validate_config(bad)
