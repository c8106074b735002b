"""Ranking losses over groups of passages per query. ``scores`` and ``labels`` have shape
(queries, group); ``mask`` marks real (non-padding) entries. Labels are 1/0 in contrastive groups and the teacher's
in distillation groups: max_rank + 1 - rank for a teacher that ranks, its own scores for one that gives scores."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _masked(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Padded entries get a score no softmax can pick."""
    return scores if mask is None else scores.masked_fill(~mask, -1e4)


def _masked_labels(labels: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Padded labels below any real one, whatever the teacher's scale (a run's scores may lie below -1e4): the
    lowest finite value of the dtype, so a softmax gives them 0 and an argmax never picks them."""
    return labels if mask is None else labels.masked_fill(~mask, torch.finfo(labels.dtype).min)


def localized_contrastive_loss(
    scores: torch.Tensor, mask: torch.Tensor | None = None, positive_index: int = 0, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """LCE (Gao et al., 2021): softmax cross-entropy over a query's group with the positive as target.

    loss = mean_q [ -s_{q,pos} + log sum_j exp(s_{q,j}) ]   (padded entries excluded from the sum)
    """
    target = torch.full((scores.shape[0],), positive_index, dtype=torch.long, device=scores.device)
    return F.cross_entropy(_masked(scores, mask), target)


def infonce_loss(
    scores: torch.Tensor,
    mask: torch.Tensor | None = None,
    temperature: float = 1.0,
    positive_index: int = 0,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """InfoNCE: LCE on scores divided by a temperature, mean_q [ -s_pos/t + log sum_j exp(s_j/t) ]."""
    return localized_contrastive_loss(scores / temperature, mask, positive_index)


def listnet_loss(
    scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None, temperature: float = 1.0
) -> torch.Tensor:
    """Listwise KL distillation (ListNet, Cao et al., 2007): with p = softmax(labels / t) and q = softmax(scores)
    over a query's real passages, KL(p || q) = sum_j p_j (log p_j - log q_j), averaged over queries; ``labels`` are
    teacher scores or rank labels (21 - rank), the temperature sets how sharp the target is."""
    target = F.softmax(_masked_labels(labels / temperature, mask), dim=-1)
    log_probs = F.log_softmax(_masked(scores, mask), dim=-1)
    pointwise = target * (torch.log(target.clamp_min(1e-30)) - log_probs)
    if mask is not None:
        pointwise = pointwise.masked_fill(~mask, 0.0)
    return pointwise.sum(-1).mean()


def kl_loss(
    scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None, temperature: float = 1.0
) -> torch.Tensor:
    """KL distillation of a teacher's score distribution (Hinton et al., 2015): with p = softmax(t / T) of the
    teacher's scores t and q = softmax(s / T) of the model's scores s over a query's real passages,
    KL(p || q) = sum_j p_j (log p_j - log q_j), averaged over queries. ``listnet_loss`` on s / T: ListNet divides only
    the labels. At T = 1 it is lightning-ir's ``KLDivergence`` (``kl_div(log_softmax(s), log_softmax(t),
    log_target=True, reduction="batchmean")``, lightning_ir/loss/listwise.py); Hinton's T^2 factor is left out, so
    a larger T also shrinks the gradients (by 1/T)."""
    return listnet_loss(scores / temperature, labels, mask, temperature)


def margin_mse_loss(scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """MarginMSE (Hofstaetter et al., 2020, "Improving Efficient Neural Ranking Models with Cross-Architecture
    Knowledge Distillation"): the model's margin between a query's best-labelled passage b and each other real
    passage j should equal the teacher's,

        loss = mean over those (q, j) of ((s_b - s_j) - (t_b - t_j))^2

    (padding excluded; a tie for the best label goes to the first passage). sentence-transformers' cross-encoder
    ``MarginMSELoss`` takes its first column, the positive, as b: the same wherever the teacher scores the positive
    highest, and for a pair (a triple) always, since the squared error of a pair's margin does not depend on which
    passage is b. lightning-ir's ``SupervisedMarginMSE`` averages over every pair with t_i > t_j instead."""
    if mask is None:
        mask = torch.ones_like(scores, dtype=torch.bool)
    best = _masked_labels(labels, mask).argmax(-1, keepdim=True)
    student = scores.gather(-1, best) - scores
    teacher = labels.gather(-1, best) - labels
    valid = mask & (torch.arange(scores.shape[1], device=scores.device)[None, :] != best)
    if not valid.any():
        return scores.sum() * 0.0
    return F.mse_loss(student[valid], teacher[valid])


def ranknet_loss(scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """RankNet (Burges et al., 2005): for every pair with label_i > label_j,
    BCE-with-logits(s_i - s_j, 1) = log(1 + exp(-(s_i - s_j))), averaged over all valid pairs of the batch. Only the
    labels' order counts: rank labels and a teacher's scores in the same order give the same loss.
    """
    if mask is None:
        mask = torch.ones_like(scores, dtype=torch.bool)
    diff = scores.unsqueeze(2) - scores.unsqueeze(1)  # (q, i, j) = s_i - s_j
    valid = (labels.unsqueeze(2) > labels.unsqueeze(1)) & mask.unsqueeze(2) & mask.unsqueeze(1)
    if not valid.any():
        return scores.sum() * 0.0
    return F.binary_cross_entropy_with_logits(diff[valid], torch.ones_like(diff[valid]))


def teacher_ranking_to_labels(ranked_docids: list[str], max_rank: int | None = None) -> dict[str, int]:
    """Labels from a teacher's ranking: label = max_rank - rank + 1 (rank 1 is best), so 20 passages get 20..1."""
    max_rank = max_rank or len(ranked_docids)
    return {docid: max_rank - rank + 1 for rank, docid in enumerate(ranked_docids, start=1)}


def compute_loss(
    name: str, scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """One of LOSSES on a batch of groups. Contrastive losses take the first passage of a group as its
    positive; the others use the labels (1/0 in contrastive groups, teacher labels in distillation groups)."""
    if name == "lce":
        return localized_contrastive_loss(scores, mask)
    if name == "infonce":
        return infonce_loss(scores, mask, temperature)
    if name == "ranknet":
        return ranknet_loss(scores, labels, mask)
    if name == "listnet":
        return listnet_loss(scores, labels, mask, temperature)
    if name == "margin_mse":
        return margin_mse_loss(scores, labels, mask)
    if name == "kl":
        return kl_loss(scores, labels, mask, temperature)
    raise ValueError(f"unknown loss {name!r}; choose one of {LOSSES}")


LOSSES = ("lce", "infonce", "ranknet", "listnet", "margin_mse", "kl")
