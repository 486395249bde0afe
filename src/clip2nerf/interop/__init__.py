"""The paper's own artefacts: nf2vec NeRF trees, nf2vec / clip2nerf checkpoints, embeddings.

Everything here reads files made by the reference code (CVLAB-Unibo/nf2vec, clip2nerf, gmnerf)
and turns them into clip2nerf's formats, or writes ours in theirs:

    tcnn          tiny-cuda-nn flat MLP parameters <-> NerfField weights
    nerfacc       nerfacc 0.3.x occupancy-grid state <-> OccupancyGrid
    nerf_tree     import / export a whole <class>/<id>/{nerf_weights,grid}.pth tree
    checkpoints   nf2vec encoder and clip2nerf/nerf2clip ``fmn`` checkpoints -> our models
    embeddings    nf2vec embeddings + captions (h5 files, ShapeNeRF-Text) -> EmbeddingTable

``.pth`` files are only read with ``torch.load(weights_only=True)`` (``interop.pth``).
"""
