"""Ranking losses over groups of passages per query. ``scores`` and ``labels`` have shape
(queries, group); ``mask`` marks real (non-padding) entries."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _masked(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Padded entries get a score no softmax can pick."""
    return scores if mask is None else scores.masked_fill(~mask, -1e4)


def localized_contrastive_loss(scores: torch.Tensor, mask: torch.Tensor | None = None, positive_index: int = 0,
                               labels: torch.Tensor | None = None) -> torch.Tensor:
    """LCE (Gao et al., 2021): softmax cross-entropy over a query's group with the positive as target.

    loss = mean_q [ -s_{q,pos} + log sum_j exp(s_{q,j}) ]   (padded entries excluded from the sum)
    """
    target = torch.full((scores.shape[0],), positive_index, dtype=torch.long, device=scores.device)
    return F.cross_entropy(_masked(scores, mask), target)


def infonce_loss(scores: torch.Tensor, mask: torch.Tensor | None = None, temperature: float = 1.0,
                 positive_index: int = 0, labels: torch.Tensor | None = None) -> torch.Tensor:
    """InfoNCE: LCE on scores divided by a temperature, mean_q [ -s_pos/t + log sum_j exp(s_j/t) ]."""
    return localized_contrastive_loss(scores / temperature, mask, positive_index)


def listnet_loss(scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None,
                 temperature: float = 1.0) -> torch.Tensor:
    """Listwise KL distillation (ListNet, Cao et al., 2007): KL(softmax(labels/t) || softmax(scores)) per query,
    averaged over queries; ``labels`` are teacher scores or rank labels (21 - rank)."""
    target = F.softmax(_masked(labels / temperature, mask), dim=-1)
    log_probs = F.log_softmax(_masked(scores, mask), dim=-1)
    pointwise = target * (torch.log(target.clamp_min(1e-30)) - log_probs)
    if mask is not None:
        pointwise = pointwise.masked_fill(~mask, 0.0)
    return pointwise.sum(-1).mean()


def margin_mse_loss(scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """MarginMSE (Hofstaetter et al., 2020): the student's margin between a query's best-labelled passage and
    each other passage should equal the teacher's, mean over those pairs of ((s_b - s_j) - (t_b - t_j))^2."""
    if mask is None:
        mask = torch.ones_like(scores, dtype=torch.bool)
    best = _masked(labels, mask).argmax(-1, keepdim=True)
    student = scores.gather(-1, best) - scores
    teacher = labels.gather(-1, best) - labels
    valid = mask & (torch.arange(scores.shape[1], device=scores.device)[None, :] != best)
    if not valid.any():
        return scores.sum() * 0.0
    return F.mse_loss(student[valid], teacher[valid])


def ranknet_loss(scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """RankNet (Burges et al., 2005): for every pair with label_i > label_j,
    BCE-with-logits(s_i - s_j, 1) = log(1 + exp(-(s_i - s_j))), averaged over all valid pairs of the batch.
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


def compute_loss(name: str, scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
                 temperature: float = 1.0) -> torch.Tensor:
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
    raise ValueError(f"unknown loss {name!r}; choose one of {LOSSES}")


LOSSES = ("lce", "infonce", "ranknet", "listnet", "margin_mse")
