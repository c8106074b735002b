import numpy as np
import torch

from stagewise.first_stage.kmeans import kmeans


def inertia(x, c):
    return float(torch.cdist(x, c).min(1).values.pow(2).sum())


def test_torch_kmeans_finds_separated_clusters_and_matches_faiss_inertia():
    import faiss

    rng = np.random.default_rng(0)
    centers = rng.normal(0, 10, (16, 8))
    x = torch.tensor(np.concatenate([c + rng.normal(0, 0.5, (200, 8)) for c in centers]), dtype=torch.float32)
    ours = kmeans(x, 16, niters=20, seed=1, rows_per_batch=300)
    reference = faiss.Kmeans(8, 16, niter=20, seed=1)
    reference.train(x.numpy())
    assert ours.shape == (16, 8)
    assert inertia(x, ours) <= 1.2 * inertia(x, torch.from_numpy(reference.centroids))
    assert torch.equal(ours, kmeans(x, 16, niters=20, seed=1, rows_per_batch=300))  # seeded
