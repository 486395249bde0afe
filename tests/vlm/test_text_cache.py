import hashlib

import numpy as np

from clip2nerf.vlm import TextEmbeddingCache, VisionLanguageModel


class HashVLM(VisionLanguageModel):
    """Texts -> a hashed bag of words (images unused)."""

    dim = 8

    def __init__(self, name: str):
        self.name = name

    def _embed_image_batch(self, images):
        raise AssertionError("not used")

    def _embed_text_batch(self, texts):
        out = np.full((len(texts), self.dim), 1e-3, np.float32)
        for i, t in enumerate(texts):
            for w in t.split():
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        return out


def make_fake_vlm(name: str) -> HashVLM:
    return HashVLM(name)


class CountingVLM:
    """Counts the texts a wrapped VLM is asked to embed."""

    def __init__(self, inner):
        self.inner, self.texts = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def _embed_text_batch(self, texts):
        self.texts += list(texts)
        return self.inner._embed_text_batch(texts)


def test_cached_texts_match_the_model_and_skip_it_next_time(tmp_path):
    inner = make_fake_vlm("cache-test")
    path = tmp_path / "texts.safetensors"
    first = CountingVLM(inner)
    cached = TextEmbeddingCache(first, path)
    texts = ["a chair", "a red car", "a chair"]
    np.testing.assert_allclose(cached.embed_texts(texts), inner.embed_texts(texts), atol=1e-6)
    assert first.texts == ["a chair", "a red car"]  # each new text once
    again = CountingVLM(inner)
    np.testing.assert_allclose(TextEmbeddingCache(again, path).embed_texts(["a red car"]),
                               inner.embed_texts(["a red car"]), atol=1e-6)
    assert again.texts == []  # read from the file
    assert cached.space == inner.space and cached.dim == inner.dim


def test_cache_of_another_model_or_damaged_is_ignored(tmp_path):
    path = tmp_path / "texts.safetensors"
    TextEmbeddingCache(make_fake_vlm("model-a"), path).embed_texts(["a chair"])
    other = CountingVLM(make_fake_vlm("model-b"))
    TextEmbeddingCache(other, path).embed_texts(["a chair"])
    assert other.texts == ["a chair"]
    path.write_bytes(b"garbage")
    damaged = CountingVLM(make_fake_vlm("model-b"))
    out = TextEmbeddingCache(damaged, path).embed_texts(["a chair"])
    assert damaged.texts == ["a chair"] and np.isfinite(out).all()
