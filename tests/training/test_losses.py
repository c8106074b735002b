import math

import numpy as np
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


@pytest.mark.parametrize("name", ["lce", "infonce", "ranknet", "listnet", "margin_mse", "kl"])
def test_every_loss_is_selectable_and_falls_when_the_positive_rises(name):
    from stagewise.training.losses import compute_loss

    labels = torch.tensor([[1.0, 0.0, 0.0]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    worse = compute_loss(name, torch.tensor([[0.0, 1.0, 1.0]]), labels, mask)
    better = compute_loss(name, torch.tensor([[2.0, 1.0, 1.0]]), labels, mask)
    assert better.item() < worse.item()


# a fixed batch of a teacher that gives scores: two queries, the first with one padding entry (the collator's label 0.0
# and the model's score of padding 0.0); teacher scores on a cross-encoder's logit scale
STUDENT = [[1.5, -0.5, 0.25, 0.0], [0.0, 2.0, -1.0, 0.5]]
TEACHER = [[6.0, -2.0, 3.5, 0.0], [-1.0, 4.5, -3.0, 1.0]]
REAL = [3, 4]  # real passages per query


def _softmax(x):
    e = np.exp(np.asarray(x, dtype=float) - np.max(x))
    return e / e.sum()


def _batch():
    mask = torch.tensor([[j < n for j in range(4)] for n in REAL])
    return torch.tensor(STUDENT), torch.tensor(TEACHER), mask


def test_margin_mse_on_teacher_scores_equals_a_hand_computation_with_padding():
    from stagewise.training.losses import compute_loss, margin_mse_loss

    # query 1: best = passage 0 (6.0); model margins 2.0, 1.25 vs teacher 8.0, 2.5 -> errors 36, 1.5625
    # query 2: best = passage 1 (4.5); model margins 2.0, 3.0, 1.5 vs teacher 5.5, 7.5, 3.5 -> errors 12.25, 20.25, 4
    errors = []
    for s, t, n in zip(STUDENT, TEACHER, REAL):
        s, t = np.array(s[:n]), np.array(t[:n])
        b = int(np.argmax(t))
        errors += [((s[b] - s[j]) - (t[b] - t[j])) ** 2 for j in range(n) if j != b]
    assert errors == [36.0, 1.5625, 12.25, 20.25, 4.0]
    assert margin_mse_loss(*_batch()).item() == pytest.approx(np.mean(errors), rel=1e-6)
    assert compute_loss("margin_mse", *_batch()).item() == pytest.approx(np.mean(errors), rel=1e-6)


def test_margin_mse_of_a_triple_is_sentence_transformers_positive_minus_negative_whichever_scores_higher():
    from stagewise.training.losses import margin_mse_loss

    # a triple (positive, negative) whose teacher scores the negative higher: b is the negative, the error the same
    scores, labels = torch.tensor([[0.5, 1.0]]), torch.tensor([[2.0, 3.5]])
    expected = ((0.5 - 1.0) - (2.0 - 3.5)) ** 2
    assert margin_mse_loss(scores, labels).item() == pytest.approx(expected, abs=1e-6)


def test_padding_is_never_the_best_passage_whatever_the_teachers_scale():
    from stagewise.training.losses import kl_loss, margin_mse_loss

    # a run's scores far below -1e4 (negative distances, log-probabilities summed over many tokens)
    scores = torch.tensor([[1.0, 0.0, 0.0]])
    labels = torch.tensor([[-20000.0, -20003.0, 0.0]])
    mask = torch.tensor([[True, True, False]])
    assert margin_mse_loss(scores, labels, mask).item() == pytest.approx(((1.0 - 0.0) - 3.0) ** 2, abs=1e-6)
    p, q = _softmax([-20000.0, -20003.0]), _softmax([1.0, 0.0])
    assert kl_loss(scores, labels, mask).item() == pytest.approx(float(np.sum(p * np.log(p / q))), abs=1e-6)


def test_kl_on_teacher_scores_equals_a_hand_computation_with_padding_and_a_temperature():
    from stagewise.training.losses import compute_loss, kl_loss, listnet_loss

    t = 2.0
    per_query = []
    for s, teacher, n in zip(STUDENT, TEACHER, REAL):
        p, q = _softmax(np.array(teacher[:n]) / t), _softmax(np.array(s[:n]) / t)
        per_query.append(float(np.sum(p * np.log(p / q))))
    expected = np.mean(per_query)
    assert kl_loss(*_batch(), temperature=t).item() == pytest.approx(expected, rel=1e-5)
    assert compute_loss("kl", *_batch(), temperature=t).item() == pytest.approx(expected, rel=1e-5)
    # ListNet divides the labels only: the same at t = 1, different at t = 2
    assert kl_loss(*_batch()).item() == pytest.approx(listnet_loss(*_batch()).item(), abs=1e-7)
    assert listnet_loss(*_batch(), temperature=t).item() != pytest.approx(expected, rel=1e-3)


def test_kl_at_temperature_one_is_lightning_irs_kl_divergence():
    from stagewise.training.losses import kl_loss

    # lightning_ir/loss/listwise.py KLDivergence, on a batch without padding
    scores, labels = (
        torch.tensor([[1.5, -0.5, 0.25], [0.0, 2.0, -1.0]]),
        torch.tensor([[6.0, -2.0, 3.5], [-1.0, 4.5, -3.0]]),
    )
    theirs = torch.nn.functional.kl_div(
        torch.log_softmax(scores, -1), torch.log_softmax(labels, -1), log_target=True, reduction="batchmean"
    )
    assert kl_loss(scores, labels).item() == pytest.approx(theirs.item(), abs=1e-6)


def test_ranknet_on_teacher_scores_follows_their_order():
    from stagewise.training.losses import compute_loss

    scores, labels, mask = _batch()
    # the rank labels of the same order (the teacher's scores ranked within each query): the same pairs, the same loss
    ranks = torch.tensor([[3.0, 1.0, 2.0, 0.0], [2.0, 4.0, 1.0, 3.0]])
    assert compute_loss("ranknet", scores, labels, mask).item() == pytest.approx(
        compute_loss("ranknet", scores, ranks, mask).item(), abs=1e-7
    )
    pairs = [
        (s[i] - s[j]) for s, t, n in zip(STUDENT, TEACHER, REAL) for i in range(n) for j in range(n) if t[i] > t[j]
    ]
    expected = np.mean([math.log1p(math.exp(-d)) for d in pairs])
    assert compute_loss("ranknet", scores, labels, mask).item() == pytest.approx(expected, rel=1e-6)
