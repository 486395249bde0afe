"""End to end on the real synthetic data (``synth --preset tiny``): the offline VLM, prepared on
the train split (4 objects per class), labels held-out test objects far above chance."""

import numpy as np
import pytest

from clip2nerf.cli.main import main


@pytest.mark.slow
def test_offline_vlm_on_synth_tiny(tmp_path):
    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.utils.embeddings import load_embeddings
    from clip2nerf.vlm import ZERO_SHOT_TEMPLATE, OfflineVLM, zero_shot_accuracy

    data, model, views = tmp_path / "tiny", tmp_path / "vlm", tmp_path / "views"
    assert main(["synth", "--preset", "tiny", "--out", str(data), "--quiet"]) == 0
    assert main(["vlm", "prepare-offline", "--data", str(data), "--out", str(model),
                 "--device", "cpu", "--quiet"]) == 0
    assert main(["vlm", "embed-views", "--data", str(data), "--out", str(views), "--vlm",
                 str(model), "--split", "test", "--device", "cpu", "--quiet"]) == 0
    vlm = OfflineVLM.from_pretrained(model)
    table = load_embeddings(views, expect_space=vlm.space)
    ds = open_dataset(data)
    assert table.ids == ds.object_ids("test")
    assert not set(ds.object_ids("test")) & set(ds.object_ids("train"))
    prompts = vlm.embed_texts([ZERO_SHOT_TEMPLATE.format(c) for c in ds.classes])
    emb = table.vectors.reshape(-1, vlm.dim)
    labels = [lab for lab in table.labels for _ in range(table.vectors.shape[1])]
    acc = zero_shot_accuracy(emb, labels, prompts, ds.classes)
    # Chance is 1/13 = 0.077.
    assert acc >= 0.4, acc
    # Paraphrases (no class word) land on their class's mean test-view embedding.
    means = np.stack([emb[[lab == c for lab in labels]].mean(0) for c in ds.classes])
    queries = {"a jet plane": "airplane", "a couch": "sofa", "a monitor": "display",
               "an automobile": "car", "a sailing boat": "watercraft", "a desk light": "lamp"}
    got = [ds.classes[i] for i in np.argmax(vlm.embed_texts(list(queries)) @ means.T, axis=1)]
    assert sum(g == w for g, w in zip(got, queries.values(), strict=True)) >= 4, got
