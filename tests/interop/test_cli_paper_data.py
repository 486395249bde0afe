"""The `import` / `export` commands end to end on fixture files in the reference formats."""

from __future__ import annotations

import json

import numpy as np
import torch

from clip2nerf.cli.main import main
from clip2nerf.interop.tcnn import state_dict_to_flat
from clip2nerf.nerf import load_nerf
from clip2nerf.nf2vec import Nf2vec
from clip2nerf.nf2vec.embed import embed_nerfs
from clip2nerf.utils.embeddings import load_embeddings


def test_paper_data_commands(fitted_nerf, tmp_path, capsys):
    from test_checkpoints import RefEncoder, ref_fmn, ref_matrix

    nf = load_nerf(fitted_nerf)
    # A gmnerf-style tree with one object.
    obj = tmp_path / "gm" / "nerf" / "shapenet" / "mlp" / "03001627" / "m1"
    obj.mkdir(parents=True)
    flat = state_dict_to_flat(nf.state_dict, nf.config, torch.randn(12, 64), torch.float16)
    torch.save({"mlp_base.params": flat}, obj / "nerf_weights.pth")
    torch.save({"_roi_aabb": nf.aabb, "_binary": nf.occupancy.binary}, obj / "grid.pth")
    assert main(["import", "nerfs", str(tmp_path / "gm"), "--out", str(tmp_path / "nerfs"),
                 "--quiet"]) == 0
    imported = load_nerf(tmp_path / "nerfs" / "chair_m1.safetensors")
    assert imported.output_padding is not None
    # Reference checkpoints.
    torch.manual_seed(0)
    ref = RefEncoder(widths=(32, 32), embed=24).eval()
    torch.save({"encoder": ref.state_dict()}, tmp_path / "nf2vec.pt")
    assert main(["import", "nf2vec", str(tmp_path / "nf2vec.pt"), "--out",
                 str(tmp_path / "model")]) == 0
    model = Nf2vec.from_pretrained(tmp_path / "model")
    assert model.config.encoder.input_layout == "tcnn" and not model.config.decoder_trained
    table = embed_nerfs(model, tmp_path / "nerfs")
    assert table.ids == ["chair_m1"] and table.labels == ["chair"]
    # The whole chain (half-precision file, padded output rows kept, tcnn rows) gives the
    # reference encoder's embedding of the same file.
    with torch.no_grad():
        want = ref(ref_matrix(flat.float())[None])
    assert np.allclose(table.vectors, want.numpy(), rtol=1e-5, atol=1e-5)
    torch.save({"fmn": ref_fmn([24, 16, 8]).state_dict()}, tmp_path / "n2c.pt")
    assert main(["import", "mapper", str(tmp_path / "n2c.pt"), "--direction", "nerf2clip",
                 "--nf2vec", str(tmp_path / "model"), "--vlm-space", "vlm:test",
                 "--out", str(tmp_path / "n2c")]) == 0
    cfg = json.loads((tmp_path / "n2c" / "config.json").read_text())
    assert cfg["nf2vec_space"] == model.space and cfg["vlm_space"] == "vlm:test"
    # ShapeNeRF-Text: vecs/<id>.npy + texts/conversations_brief.json.
    st = tmp_path / "snt" / "train"
    (st / "vecs").mkdir(parents=True)
    (st / "texts").mkdir()
    np.save(st / "vecs" / "m1.npy", np.random.rand(1, 24).astype(np.float32))
    conv = [{"object_id": "m1", "conversations": [
        {"from": "human", "value": "<point>\nWhat is this?"},
        {"from": "gpt", "value": "A wooden chair with four legs."}]}]
    (st / "texts" / "conversations_brief.json").write_text(json.dumps(conv))
    assert main(["import", "shapenerf-text", str(tmp_path / "snt"), "--nf2vec",
                 str(tmp_path / "model"), "--nerfs", str(tmp_path / "nerfs"),
                 "--out", str(tmp_path / "snt_out")]) == 0
    emb = load_embeddings(tmp_path / "snt_out" / "nerf_emb.safetensors", model.space)
    assert emb.ids == ["chair_m1"] and emb.labels == ["chair"]
    caps = json.loads((tmp_path / "snt_out" / "captions.json").read_text())
    assert caps == {"chair_m1": "A wooden chair with four legs."}
    # Export back to a tree.
    assert main(["export", str(tmp_path / "nerfs"), "--out", str(tmp_path / "tree")]) == 0
    w = torch.load(tmp_path / "tree" / "03001627" / "m1" / "nerf_weights.pth",
                   weights_only=True)
    assert w["mlp_base.params"].shape == (18432,)
