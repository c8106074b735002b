"""k-means for PLAID centroids in torch, on the GPU when there is one.

colbert-ai trains its centroids with faiss.Kmeans, on the GPU only with a faiss GPU build (and faiss GPU wheels do
not all cover sm_90, H100/H200); with faiss-cpu, MS MARCO's sample (about 35M embeddings into 2^18 centroids) takes
about 67 h on 2 cores. This is Lloyd's algorithm with the assignment as batched matrix products, which a GPU does
in seconds per iteration; on the CPU it serves small indexes and the tests.
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)


def kmeans(sample: torch.Tensor, k: int, niters: int, seed: int = 123, device=None, rows_per_batch: int = 4096):
    """``k`` centroids (float32, on the CPU) of the rows of ``sample`` after ``niters`` Lloyd iterations.

    Starts from ``k`` distinct rows drawn with ``seed``; squared L2 assignment in batches of ``rows_per_batch``
    rows (memory ``rows_per_batch x k`` floats); an empty cluster keeps its previous centroid."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    n = sample.shape[0]
    if n < k:
        raise ValueError(f"k-means: {n} points for {k} centroids")
    generator = torch.Generator().manual_seed(seed)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    centroids = sample[torch.randperm(n, generator=generator)[:k]].to(device, torch.float32)
    for iteration in range(niters):
        sums = torch.zeros_like(centroids)
        counts = torch.zeros(k, device=device)
        inertia = 0.0
        norms = (centroids * centroids).sum(1)
        low = centroids.to(dtype)
        for start in range(0, n, rows_per_batch):
            x = sample[start : start + rows_per_batch].to(device, torch.float32)
            # argmin ||x - c||^2 = argmin ||c||^2 - 2 x.c
            distances = norms[None, :] - 2 * (x.to(dtype) @ low.T).float()
            nearest = distances.argmin(1)
            inertia += float((distances.gather(1, nearest[:, None]).squeeze(1) + (x * x).sum(1)).sum())
            sums.index_add_(0, nearest, x)
            counts.index_add_(0, nearest, torch.ones_like(nearest, dtype=counts.dtype))
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
        log.info(
            "k-means iteration %d of %d: inertia %.4g, %d empty clusters",
            iteration + 1,
            niters,
            inertia,
            int((~filled).sum()),
        )
    return centroids.cpu()


def colbert_kmeans(kmeans_niters_default: int = 4, device=None):
    """A drop-in for colbert-ai's ``compute_faiss_kmeans(dim, num_partitions, kmeans_niters, shared_lists, ...)``."""

    def compute(dim, num_partitions, kmeans_niters, shared_lists, return_value_queue=None):
        sample = shared_lists[0][0]
        centroids = kmeans(sample, num_partitions, kmeans_niters or kmeans_niters_default, device=device)
        if return_value_queue is not None:
            return_value_queue.put(centroids)
        return centroids

    return compute
