"""The efficiency table from model folders' hparams.json and Snakemake benchmark files (their real layout)."""

import json

import pandas as pd
import pytest

from stagewise.reporting.efficiency import (
    cumulative_costs,
    efficiency_markdown,
    efficiency_table,
    in_domain_effectiveness,
    rerank_seconds_per_query,
    stage_costs,
)
from stagewise.reporting.plots import efficiency_plot

# a benchmark file as Snakemake 9 writes it (header and one line per repeat)
BENCHMARK = (
    "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    "{s}\t0:00:46\t{rss}\t2252.11\t466.11\t540.00\t0.00\t36.37\t95.02\t44.73\n"
)


def _model(tmp_path, name, stage, steps, pairs, tokens, groups, device="gpu", **more):
    folder = tmp_path / "models" / name
    folder.mkdir(parents=True)
    (folder / "hparams.json").write_text(
        json.dumps(
            {
                "stage": stage,
                "steps": steps,
                "pairs_seen": pairs,
                "tokens_seen": tokens,
                "training_groups": groups,
                "device": device,
                **more,
            }
        )
    )
    return folder


def _bench(tmp_path, name, seconds, rss=600.0):
    path = tmp_path / "results" / "benchmarks" / f"{name}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BENCHMARK.format(s=seconds, rss=rss))
    return path


@pytest.fixture
def grid(tmp_path):
    """electra C, D, C-D and the sweep cell C-D_lr6e-12 at one seed, trained on a GPU; C-D's D stage on the CPU."""
    specs = {
        "C": ("C", 100, 1600, 80000, 500, 3600.0),
        "D": ("D", 50, 400, 20000, 200, 1800.0),
        "C-D": ("D", 50, 400, 20000, 200, 900.0),
        "C-D_lr6e-12": ("D", 50, 400, 20000, 200, 1000.0),
    }
    models, benches = {}, {}
    moved = {
        "C-D": {"relative_l2": 0.05, "changed_fraction": 0.9},
        "C-D_lr6e-12": {"relative_l2": 1.5e-11, "changed_fraction": 0.004},
    }
    for schedule, (stage, steps, pairs, tokens, groups, seconds) in specs.items():
        key = ("electra", schedule, 1)
        more = {"movement": moved[schedule]} if schedule in moved else {}
        models[key] = _model(
            tmp_path,
            schedule,
            stage,
            steps,
            pairs,
            tokens,
            groups,
            device="cpu" if schedule == "C-D" else "gpu",
            **more,
        )
        benches[key] = _bench(tmp_path, f"train-{schedule}", seconds, rss=900.0 if schedule == "C" else 600.0)
    # each test set's job re-ranked both rankers' runs: 4 + 2 queries twice (and a query's metrics twice: counted once)
    per_query = pd.DataFrame(
        {
            "ranker": ["bm25", "colbert"] * 6 + ["bm25"],
            "dataset": ["dl19"] * 8 + ["dl20"] * 4 + ["dl19"],
            "qid": ["1", "1", "2", "2", "3", "3", "4", "4", "5", "5", "6", "6", "1"],
        }
    )
    rerank = {
        ("electra", s, 1, d): _bench(tmp_path, f"rerank-{s}-{d}", 8.0 if d == "dl19" else 4.0)
        for s in specs
        for d in ("dl19", "dl20")
    }
    # per-query scores: dl19 in domain, scifact out of domain (0.1 lower: left out of the effectiveness)
    scores = pd.DataFrame(
        [
            {
                "ranker": "bm25",
                "reranker": "electra",
                "schedule": s,
                "seed": "1",
                "dataset": d,
                "qid": q,
                "metric": "ndcg@10",
                "value": v - (0.1 if d == "scifact" else 0.0),
            }
            for s, v in (("C", 0.6), ("D", 0.5), ("C-D", 0.62), ("C-D_lr6e-12", 0.6))
            for d in ("dl19", "scifact")
            for q in ("1", "2")
        ]
    )
    return models, benches, rerank, per_query, in_domain_effectiveness(scores, "ndcg@10", ["scifact"])


def test_two_stage_cells_add_their_stage_one_cost_and_gpu_hours_count_gpu_stages(grid):
    models, benches, *_ = grid
    costs = cumulative_costs(stage_costs(models, benches)).set_index("schedule")
    assert costs.loc["C", ["wall_s", "steps", "pairs", "tokens", "teacher_rankings", "stages"]].tolist() == [
        3600.0,
        100,
        1600,
        80000,
        0,
        1,
    ]
    # C-D = C (GPU, 3600 s) + its D stage (CPU, 900 s): 4500 s of training, one GPU-hour
    assert costs.loc["C-D", ["wall_s", "gpu_s", "steps", "pairs", "teacher_rankings", "stages"]].tolist() == [
        4500.0,
        3600.0,
        150,
        2000,
        200,
        2,
    ]
    assert costs.loc["C-D_lr6e-12", "wall_s"] == 4600.0  # the sweep cell is charged the same C
    with pytest.raises(ValueError, match="needs its stage-1 model electra/C/seed1"):
        cumulative_costs(stage_costs({k: v for k, v in models.items() if k[1] != "C"}, benches))


def test_the_table_has_a_row_per_cell_with_rerank_time_per_query_and_in_domain_effectiveness(grid, tmp_path):
    models, benches, rerank, per_query, effect = grid
    costs = cumulative_costs(stage_costs(models, benches))
    cells = efficiency_table(costs, rerank_seconds_per_query(rerank, per_query), effect, "ndcg@10")
    row = cells.set_index("schedule").loc["C-D"]
    assert row["gpu_hours"] == pytest.approx(1.0) and row["train_wall_s"] == 4500.0
    assert row["rerank_s_per_query"] == pytest.approx((8.0 + 4.0) / 12)  # 12 s over (4 + 2) x 2 rankers' queries
    assert row["ndcg@10_in_domain"] == pytest.approx(0.62)  # scifact (out of domain) left out
    assert list(cells["schedule"]) == ["C", "D", "C-D", "C-D_lr6e-12"]
    md = efficiency_markdown(cells, "ndcg@10")
    assert "| electra | C-D | 2 | 75.0 | 1.00 | 150 | 2,000 | 0.10 | 200 | 1000.0 | 0.050 (90%) |  | 0.620 |" in md
    assert "| electra | C-D_lr6e-12 | 2 |" in md and "| no (1e-11) |" in md  # a stage 2 that did not train
    assert "| electra | C | 1 | 60.0 | 1.00 | 100 | 1,600 | 0.08 | 0 | 1000.0 |  |  | 0.600 |" in md
    assert row["peak_rss_mb"] == 900.0  # C-D's peak is its C stage's
    efficiency_plot(costs, effect, "ndcg@10", tmp_path / "efficiency.png")
    assert (tmp_path / "efficiency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_training_time_is_the_trainings_own_over_all_attempts_where_recorded(tmp_path):
    """A C training stopped twice by the time limit: its hparams.json sums the three attempts; the benchmark file
    holds the last attempt's wall time only."""
    models = {("electra", "C", 1): _model(tmp_path, "C", "C", 100, 1600, 80000, 500, train_seconds=30000.0, attempts=3)}
    benches = {("electra", "C", 1): _bench(tmp_path, "train-C", 9000.0)}
    row = stage_costs(models, benches).iloc[0]
    assert (row["wall_s"], row["gpu_s"], row["attempts"]) == (30000.0, 30000.0, 3)


def test_stage_agreement_is_the_mean_kendall_tau_between_the_two_stages_rerankings(tmp_path):
    from scipy.stats import kendalltau

    from stagewise.io import write_run
    from stagewise.reporting.efficiency import stage_agreement

    c = {"q1": {"a": 3.0, "b": 2.0, "c": 1.0}, "q2": {"a": 1.0, "b": 2.0, "c": 3.0, "d": 0.5}}
    cd = {"q1": {"a": 3.0, "b": 2.0, "c": 1.0}, "q2": {"a": 2.0, "b": 1.0, "c": 3.0}}  # q2: one swap, d dropped
    write_run(c, tmp_path / "c.run")
    write_run(cd, tmp_path / "cd.run")
    row = stage_agreement({("bm25", "electra", "C-D", 1, "dl19"): (tmp_path / "cd.run", tmp_path / "c.run")}).iloc[0]
    q2 = kendalltau([2.0, 1.0, 3.0], [1.0, 2.0, 3.0]).statistic  # over the documents both ranked
    assert (row["schedule"], row["seed"]) == ("C-D", "1")
    assert row["kendall_tau"] == pytest.approx((1.0 + q2) / 2) and q2 == pytest.approx(1 / 3)
