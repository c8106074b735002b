"""Ranking losses over groups of passages per query. ``scores`` and ``labels`` have shape
(queries, group); ``mask`` marks real (non-padding) entries."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def localized_contrastive_loss(scores: torch.Tensor, positive_index: int = 0) -> torch.Tensor:
    """LCE (Gao et al., 2021): softmax cross-entropy over a query's group with the positive as target.

    loss = mean_q [ -s_{q,pos} + log sum_j exp(s_{q,j}) ]
    """
    target = torch.full((scores.shape[0],), positive_index, dtype=torch.long, device=scores.device)
    return F.cross_entropy(scores, target)


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


LOSSES = {"lce": localized_contrastive_loss, "ranknet": ranknet_loss}
