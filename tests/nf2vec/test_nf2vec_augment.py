"""Weight-space augmentation of nf2vec's inputs (issue 13): a permutation of hidden units keeps
the field, noise touches only used rows, and the default training path draws nothing extra."""

from __future__ import annotations

import dataclasses

import torch
from nf2vec_helpers import TINY_MODEL, TINY_TRAIN, make_field, occupancy_of

from clip2nerf.nerf.config import NerfConfig
from clip2nerf.nf2vec.augment import add_weight_noise, augment_matrices, permute_hidden_units
from clip2nerf.nf2vec.layout import state_dict_to_matrix
from clip2nerf.nf2vec.nerfs import batched_nerf_forward


def _matrices(n: int = 3) -> tuple[torch.Tensor, NerfConfig]:
    fields = [make_field(i) for i in range(n)]
    cfg = fields[0].config
    return torch.stack([state_dict_to_matrix(f.state_dict(), cfg) for f in fields]), cfg


def test_permuting_hidden_units_keeps_the_field_and_changes_the_weights():
    m, cfg = _matrices()
    g = torch.Generator().manual_seed(0)
    p = permute_hidden_units(m, cfg, g)
    xyz = torch.rand(len(m), 200, 3) * 2 - 1
    rgb0, s0 = batched_nerf_forward(m, xyz, cfg)
    rgb1, s1 = batched_nerf_forward(p, xyz, cfg)
    # float32 sums in another order: relative differences of a few ulps
    torch.testing.assert_close(rgb1, rgb0, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(s1, s0, rtol=1e-4, atol=1e-4)
    assert (p - m).abs().max() > 0.1  # the units really moved
    # the same numbers, rearranged
    torch.testing.assert_close(p.flatten(1).sort(dim=1).values, m.flatten(1).sort(dim=1).values)


def test_weight_noise_keeps_zero_rows_and_scales_with_the_weights():
    m, cfg = _matrices()
    g = torch.Generator().manual_seed(0)
    n = add_weight_noise(m, 0.1, g)
    zero = ~(m != 0).any(dim=-1)
    assert zero.any()  # padding / untrained-frequency rows exist
    assert (n[zero] == 0).all()
    rel = (n - m)[~zero].pow(2).mean().sqrt() / m[~zero].pow(2).mean().sqrt()
    assert 0.05 < float(rel) < 0.2
    assert add_weight_noise(m, 0.0, g) is m


def test_augmentation_off_draws_no_random_numbers():
    m, cfg = _matrices(2)
    g = torch.Generator().manual_seed(3)
    state = g.get_state()
    assert augment_matrices(m, cfg, 0.0, False, g) is m
    assert torch.equal(g.get_state(), state)


def test_training_with_augmentation_runs_and_default_is_unchanged(tmp_path):
    from clip2nerf.nerf.io import save_nerf
    from clip2nerf.nf2vec import train_nf2vec

    folder = tmp_path / "nerfs"
    folder.mkdir()
    for i in range(5):
        f = make_field(i)
        save_nerf(folder / f"o{i}.safetensors", f, f.config, occupancy_of(f),
                  {"object_id": f"o{i}", "class_name": "chair",
                   "split": "val" if i == 4 else "train"})
    cfg = dataclasses.replace(TINY_TRAIN, epochs=2)
    runs = {}
    for name, over in (("a", {}), ("b", {}), ("noise", {"weight_noise": 0.1}),
                       ("perm", {"permute_units": True})):
        h = train_nf2vec(folder, tmp_path / name, TINY_MODEL, dataclasses.replace(cfg, **over),
                         progress=False, log=lambda m: None)
        runs[name] = [r["loss"] for r in h]
    assert runs["a"] == runs["b"]  # augmentation off: deterministic as before
    assert runs["noise"] != runs["a"] and runs["perm"] != runs["a"]
    assert all(torch.isfinite(torch.tensor(v)).all() for v in runs.values())
