"""Synthetic datasets of the examples: exact, seeded generators of the tasks dilation is known for.

Each generator takes an explicit seed and returns tensors (or NumPy arrays), so a run is
reproducible to the bit. Modules: ``sequence`` (adding problem, copy memory), ``genomics``
(long-range synthetic DNA), ``objects`` (dense prediction with objects of a given size),
``dense`` (gridding task), ``rhythm`` (pulse trains).
"""
