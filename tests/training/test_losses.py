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
