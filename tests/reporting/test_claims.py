"""Claims checked against the significance tests: holds, fails, inconclusive, with the direction of the pair."""

import pandas as pd
import pytest

from stagewise.reporting.claims import check_claims, claims_markdown, verdict


def _row(a, b, outcome, difference, dataset="dl19", ranker="bm25"):
    return {
        "ranker": ranker,
        "reranker": "electra",
        "dataset": dataset,
        "metric": "ndcg@10",
        "system_a": a,
        "system_b": b,
        "outcome": outcome,
        "difference": difference,
        "difference_low": difference - 0.01,
        "difference_high": difference + 0.01,
        "margin": 0.01,
        "p_corrected": 0.01,
        "p_equivalence_corrected": 0.2,
        "n_queries": 43,
    }


SIGNIFICANCE = pd.DataFrame(
    [
        _row("C", "D", "better", 0.05),  # D is below C: holds (the pair is stored as C, D)
        _row("C", "C-D_lr1e-08", "equivalent", 0.001),  # C-D on par with C: holds for this cell
        _row("C", "C-D_lr1e-05", "worse", -0.03),  # ... fails for this one (C-D better)
        _row("C", "D", "inconclusive", 0.004, dataset="dl20"),
    ]
)
CELLS = ["C", "D", "C-D_lr1e-08", "C-D_lr1e-05"]


def test_a_claim_that_holds_one_that_fails_and_one_that_is_inconclusive():
    claims = [
        {"name": "D is below C", "a": "D", "b": "C", "expect": "worse", "metric": "ndcg@10"},
        {"name": "C-D is on par with C", "a": "C-D", "b": "C", "expect": "on_par", "metric": "ndcg@10"},
    ]
    checked = check_claims(claims, SIGNIFICANCE, CELLS).set_index(["claim", "a", "dataset"])
    below = checked.loc[("D is below C", "D", "dl19")]
    assert (below["outcome"], below["verdict"], below["difference"]) == ("worse", "holds", pytest.approx(-0.05))
    assert (below["difference_low"], below["difference_high"]) == (pytest.approx(-0.06), pytest.approx(-0.04))
    assert checked.loc[("D is below C", "D", "dl20"), "verdict"] == "inconclusive"
    # the schedule C-D runs as two sweep cells: the claim is checked for each
    assert checked.loc[("C-D is on par with C", "C-D_lr1e-08", "dl19"), "verdict"] == "holds"
    assert checked.loc[("C-D is on par with C", "C-D_lr1e-05", "dl19"), ["outcome", "verdict"]].tolist() == [
        "better",
        "fails",
    ]
    md = claims_markdown(check_claims(claims, SIGNIFICANCE, CELLS))
    assert "D against C (worse, ndcg@10): holds in 1, fails in 0, inconclusive in 1 of 2." in md


@pytest.mark.parametrize(
    "expect, outcome, expected",
    [
        ("better", "negligible", "fails"),
        ("on_par", "negligible", "holds"),
        ("on_par", "inconclusive", "inconclusive"),
        ("not_better", "equivalent", "holds"),
        ("not_better", "better", "fails"),
        ("not_worse", "worse", "fails"),
        ("not_worse", "inconclusive", "inconclusive"),
    ],
)
def test_verdicts(expect, outcome, expected):
    assert verdict(expect, outcome) == expected


def test_an_unknown_expectation_is_refused():
    with pytest.raises(ValueError, match="not 'same'"):
        verdict("same", "better")


def test_a_claim_about_a_system_the_grid_does_not_run_is_not_checked():
    claims = [
        {"name": "D is below C", "a": "D", "b": "C", "expect": "worse", "metric": "ndcg@10"},
        {"name": "map claim", "a": "C", "b": "-", "expect": "better", "metric": "map"},
    ]
    checked = check_claims(claims, SIGNIFICANCE, ["C"])  # a grid of C alone (schedules: [C] over the demo)
    assert checked["verdict"].tolist() == ["not checked", "not checked"]
    assert checked["outcome"].tolist() == ["D not in the grid", "map not evaluated"]
    assert "Not checked: D not in the grid." in claims_markdown(checked)
