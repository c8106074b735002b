"""How far a training stage moved its weights (no Lightning here: the report reads it too)."""

from __future__ import annotations

import math

#: a training whose weights moved by less than this relative L2 distance did not train (the release's stage-2 lr
#: 6.0e-12 moves the weights smaller than about 1e-4, some 0.4% of them, by about the lr: a relative 1e-11)
STILL = 1e-8


def movement(initial: dict, model) -> dict:
    """How far training moved the weights from ``initial`` (a state dict): the relative L2 distance over all
    floating-point tensors, and the fraction of their entries that changed at all."""
    changed = total = 0
    squared_distance = squared_norm = 0.0
    for name, tensor in model.state_dict().items():
        before = initial[name]
        if not before.is_floating_point():
            continue
        after = tensor.detach().to("cpu", before.dtype)
        changed += int((after != before).sum())
        total += before.numel()
        squared_distance += float((after.double() - before.double()).pow(2).sum())
        squared_norm += float(before.double().pow(2).sum())
    return {
        "relative_l2": math.sqrt(squared_distance / squared_norm) if squared_norm else 0.0,
        "changed_fraction": changed / total if total else 0.0,
    }
