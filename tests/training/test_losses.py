import math

import pytest
import torch

from stagewise.training.losses import localized_contrastive_loss, ranknet_loss, teacher_ranking_to_labels


def test_lce_matches_hand_computed_value():
    scores = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    # query 1: -2 + log(e^2 + e^1 + e^0); query 2: log 3
    q1 = -2 + math.log(math.exp(2) + math.exp(1) + 1)
    expected = (q1 + math.log(3)) / 2
    assert localized_contrastive_loss(scores).item() == pytest.approx(expected, abs=1e-6)


def test_ranknet_matches_hand_computed_value_and_ignores_padding():
    scores = torch.tensor([[3.0, 1.0, 0.0, 9.0]])
    labels = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
    mask = torch.tensor([[True, True, True, False]])
    # valid pairs (i better than j): (0,1) diff 2, (0,2) diff 3, (1,2) diff 1; the padded 4th entry is ignored
    expected = sum(math.log1p(math.exp(-d)) for d in (2.0, 3.0, 1.0)) / 3
    assert ranknet_loss(scores, labels, mask).item() == pytest.approx(expected, abs=1e-6)


def test_ranknet_ties_give_no_pairs():
    scores = torch.tensor([[1.0, 2.0]], requires_grad=True)
    loss = ranknet_loss(scores, torch.tensor([[1.0, 1.0]]))
    assert loss.item() == 0.0
    loss.backward()  # still differentiable


def test_teacher_labels_are_max_rank_minus_rank_plus_one():
    labels = teacher_ranking_to_labels([f"d{i}" for i in range(20)])
    assert labels["d0"] == 20 and labels["d19"] == 1
    assert teacher_ranking_to_labels(["a", "b"], max_rank=20) == {"a": 20, "b": 19}


def test_lce_ignores_padded_entries():
    from stagewise.training.losses import localized_contrastive_loss

    scores = torch.tensor([[2.0, 1.0, 50.0]])
    mask = torch.tensor([[True, True, False]])
    expected = -2 + math.log(math.exp(2) + math.exp(1))
    assert localized_contrastive_loss(scores, mask).item() == pytest.approx(expected, abs=1e-6)


def test_infonce_divides_scores_by_the_temperature():
    from stagewise.training.losses import infonce_loss

    scores = torch.tensor([[1.0, 0.5, 0.0, 7.0]])
    mask = torch.tensor([[True, True, True, False]])
    t = 0.5
    expected = -1.0 / t + math.log(math.exp(1.0 / t) + math.exp(0.5 / t) + 1.0)
    assert infonce_loss(scores, mask, temperature=t).item() == pytest.approx(expected, abs=1e-6)


def test_listnet_is_the_kl_between_teacher_and_student_softmax_with_padding_ignored():
    from stagewise.training.losses import listnet_loss

    scores = torch.tensor([[1.0, 0.0, 3.0]])
    labels = torch.tensor([[2.0, 1.0, 0.0]])
    mask = torch.tensor([[True, True, False]])
    p = [math.exp(2) / (math.exp(2) + math.exp(1)), math.exp(1) / (math.exp(2) + math.exp(1))]
    q = [math.exp(1) / (math.exp(1) + 1), 1 / (math.exp(1) + 1)]
    expected = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    assert listnet_loss(scores, labels, mask).item() == pytest.approx(expected, abs=1e-6)
    assert listnet_loss(labels, labels, mask).item() == pytest.approx(0.0, abs=1e-6)


def test_margin_mse_compares_margins_to_the_best_labelled_passage():
    from stagewise.training.losses import margin_mse_loss

    scores = torch.tensor([[0.0, 2.0, 1.0, 5.0], [1.0, 1.0, 0.0, 0.0]])
    labels = torch.tensor([[1.0, 3.0, 0.0, 9.0], [4.0, 1.0, 2.0, 0.0]])
    mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    # query 1: best = passage 1 (label 3); student margins 2, 1 vs teacher 2, 3 -> errors 0, 4
    # query 2: best = passage 0 (label 4); student margins 0, 1, 1 vs teacher 3, 2, 4 -> errors 9, 1, 9
    expected = (0 + 4 + 9 + 1 + 9) / 5
    assert margin_mse_loss(scores, labels, mask).item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("name", ["lce", "infonce", "ranknet", "listnet", "margin_mse"])
def test_every_loss_is_selectable_and_falls_when_the_positive_rises(name):
    from stagewise.training.losses import compute_loss

    labels = torch.tensor([[1.0, 0.0, 0.0]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    worse = compute_loss(name, torch.tensor([[0.0, 1.0, 1.0]]), labels, mask)
    better = compute_loss(name, torch.tensor([[2.0, 1.0, 1.0]]), labels, mask)
    assert better.item() < worse.item()
