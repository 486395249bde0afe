"""Depth-conditioned Stable Diffusion images of the views (paper §6.1, Table 4, Fig. 8).

For a few views of every object, the view's depth map (near = bright, background = black, as
the depth ControlNet was trained with) conditions Stable Diffusion 1.5 + ``sd-controlnet-depth``
through ``diffusers``, prompted with the object's class ("a photo of a chair, in a living
room"): photo-like images of the same shape from the same viewpoint, stored as a dataset with
the prompt, seed and model names of every image.

Weights are read only from local folders or the Hugging Face cache (``local_files_only``), so a
machine without them gets a clear UserError instead of a hang on the unreachable hub.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clip2nerf.augment.writer import hash_seed
from clip2nerf.errors import UserError

DEFAULT_SD_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
"""Stable Diffusion 1.5 (the hub's maintained copy of runwayml/stable-diffusion-v1-5)."""
DEFAULT_CONTROLNET = "lllyasviel/sd-controlnet-depth"
"""The depth ControlNet for SD 1.5 (Zhang et al., the ControlNet the paper cites)."""

CLASS_SCENES: dict[str, tuple[str, ...]] = {
    "airplane": ("in the sky", "on an airport runway", "parked at an airfield"),
    "bench": ("in a park", "on a city sidewalk", "in a garden"),
    "cabinet": ("in a living room", "in a kitchen", "in an office"),
    "car": ("on a street", "in a parking lot", "on a country road"),
    "chair": ("in a living room", "in a dining room", "in an office"),
    "display": ("on an office desk", "in a living room", "on a shelf"),
    "lamp": ("in a bedroom", "on a desk", "in a living room"),
    "speaker": ("on a shelf", "in a living room", "on a desk"),
    "rifle": ("on a wooden table", "in a museum display", "on a rack"),
    "sofa": ("in a living room", "in a lounge", "in a furniture store"),
    "table": ("in a dining room", "in a kitchen", "in a cafe"),
    "phone": ("on a desk", "in a hand", "on a kitchen counter"),
    "watercraft": ("on the sea", "on a lake", "in a harbour"),
}
"""Class-aware settings for the prompts; other classes get ``GENERIC_SCENES``."""
GENERIC_SCENES = ("indoors", "outdoors", "on a table")


@dataclass(frozen=True)
class ControlNetSettings:
    """Everything that determines the generated images (recorded; a rerun must match)."""

    sd_model: str = DEFAULT_SD_MODEL
    controlnet: str = DEFAULT_CONTROLNET
    views_per_object: int = 7
    steps: int = 20
    guidance: float = 7.5
    size: int = 512
    seed: int = 0
    prompt_template: str = "a photo of a {cls}, {scene}, realistic, high quality"
    negative_prompt: str = "lowres, cartoon, drawing, blurry, deformed"
    conditioning_scale: float = 1.0

    def validate(self) -> None:
        if self.views_per_object < 1:
            raise UserError(f"--views-per-object {self.views_per_object}: must be at least 1")
        if self.steps < 1:
            raise UserError(f"--steps {self.steps}: must be at least 1")
        if self.size < 16 or self.size % 8:
            raise UserError(f"--size {self.size}: must be a multiple of 8, at least 16")
        if "{cls}" not in self.prompt_template:
            raise UserError("--prompt must contain {cls} where the class name goes")


def depth_to_control(depth: np.ndarray, size: int) -> np.ndarray:
    """(H, W) depth along the camera axis (0 = background) -> (size, size, 3) uint8 image in
    the depth ControlNet's convention: normalised inverse depth, near bright, background 0."""
    from PIL import Image

    valid = depth > 0
    out = np.zeros(depth.shape, np.float32)
    if valid.any():
        inv = 1.0 / depth[valid]
        lo, hi = float(inv.min()), float(inv.max())
        out[valid] = 0.25 + 0.75 * ((inv - lo) / (hi - lo) if hi > lo else 1.0)
    img = Image.fromarray(np.round(out * 255).astype(np.uint8)).resize((size, size),
                                                                        Image.BILINEAR)
    return np.repeat(np.asarray(img)[..., None], 3, axis=-1)


def make_prompt(settings: ControlNetSettings, class_name: str, rng: np.random.Generator) -> str:
    scenes = CLASS_SCENES.get(class_name, GENERIC_SCENES)
    scene = scenes[int(rng.integers(len(scenes)))]
    # Plain replacement, not str.format: a user's template can neither fail on another
    # brace nor reach attributes.
    return settings.prompt_template.replace("{cls}", class_name).replace("{scene}", scene)


def image_seed(seed: int, object_id: str, k: int) -> int:
    return hash_seed("clip2nerf-controlnet", seed, object_id, k)


def _describe_source(spec: str) -> str:
    """A folder as given, or a hub id (with the cached snapshot's revision when found)."""
    if Path(spec).is_dir():
        return str(Path(spec).resolve())
    try:
        from huggingface_hub import snapshot_download

        path = snapshot_download(spec, local_files_only=True)
        return f"{spec}@{Path(path).name}"
    except Exception:  # noqa: BLE001 - provenance only; loading reports real problems
        return spec


def load_pipeline(sd_model: str, controlnet: str, device: str = "cpu"):
    """The SD + depth-ControlNet pipeline from local folders or the hub cache only."""
    try:
        import torch
        from diffusers import ControlNetModel, StableDiffusionControlNetPipeline
    except ImportError:
        raise UserError("augment controlnet needs diffusers: pip install 'clip2nerf[diffusion]'"
                        ) from None
    dtype = torch.float16 if torch.device(device).type == "cuda" else torch.float32
    what = "--controlnet"
    try:
        cn = ControlNetModel.from_pretrained(controlnet, local_files_only=True, dtype=dtype)
        what = "--sd-model"
        pipe = StableDiffusionControlNetPipeline.from_pretrained(
            sd_model, controlnet=cn, local_files_only=True, dtype=dtype,
            safety_checker=None, requires_safety_checker=False)
    except (OSError, ValueError) as exc:
        spec = controlnet if what == "--controlnet" else sd_model
        raise UserError(
            f"{what} {spec}: weights not found in a local folder or the Hugging Face cache "
            f"({str(exc).splitlines()[0][:160]}). This command never downloads: fetch them "
            f"where the hub is reachable (`hf download {spec}`) or pass a folder.") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def augment_controlnet(data, out, split: str = "train",
                       settings: ControlNetSettings = ControlNetSettings(),
                       batch_size: int = 4, device: str = "auto", overwrite: bool = False,
                       progress: bool = True, log=print, pipeline=None):
    """ControlNet images of ``views_per_object`` views of every object of ``split`` into the
    dataset folder ``out`` (resumable by object; ``batch_size`` images per denoising pass).

    ``pipeline``: an already loaded pipeline (tests and notebooks); by default it is loaded
    from ``settings.sd_model`` and ``settings.controlnet``.
    """
    import torch
    from PIL import Image

    from clip2nerf.augment.writer import AugmentedImage, write_augmented
    from clip2nerf.data.layouts import open_dataset
    from clip2nerf.utils.device import resolve_device

    settings.validate()
    if batch_size < 1:
        raise UserError(f"--batch-size {batch_size}: must be at least 1")
    ds = open_dataset(data)
    ids = ds.split_ids(split)
    first = ds.get(ids[0])
    if first.depth_scale is None or first.frames[0].depth_path is None:
        raise UserError(f"{ds.root}: objects have no depth maps; ControlNet augmentation is "
                        "conditioned on depth (make the dataset with `clip2nerf synth`)")
    dev = str(resolve_device(device))
    if pipeline is None:
        pipeline = load_pipeline(settings.sd_model, settings.controlnet, dev)
    record = {"kind": "controlnet", "source": ds.name, "split": split, **asdict(settings),
              "models": {"sd_model": _describe_source(settings.sd_model),
                         "controlnet": _describe_source(settings.controlnet)},
              "scheduler": type(pipeline.scheduler).__name__}

    def make_images(obj) -> list[AugmentedImage]:
        rng = np.random.default_rng(image_seed(settings.seed, obj.object_id, -1))
        n = settings.views_per_object
        picks = rng.permutation(obj.n_views)[:n].tolist()
        picks += rng.integers(obj.n_views, size=n - len(picks)).tolist()  # more than views
        jobs: list[dict[str, Any]] = []
        for k, view in enumerate(picks):
            s = image_seed(settings.seed, obj.object_id, k)
            control = depth_to_control(obj.load_depth(int(view)), settings.size)
            prompt = make_prompt(settings, obj.class_name, np.random.default_rng(s))
            jobs.append({"view": int(view), "seed": s, "prompt": prompt, "control": control})
        images = []
        for start in range(0, len(jobs), batch_size):
            batch = jobs[start:start + batch_size]
            result = pipeline(
                [j["prompt"] for j in batch],
                image=[Image.fromarray(j["control"]) for j in batch],
                negative_prompt=[settings.negative_prompt] * len(batch),
                num_inference_steps=settings.steps, guidance_scale=settings.guidance,
                controlnet_conditioning_scale=settings.conditioning_scale,
                height=settings.size, width=settings.size, output_type="np",
                # CPU generators: the same seed gives the same noise on any device.
                generator=[torch.Generator("cpu").manual_seed(j["seed"]) for j in batch])
            for j, img in zip(batch, result.images, strict=True):
                rgb = np.clip(np.round(np.asarray(img) * 255), 0, 255).astype(np.uint8)
                images.append(AugmentedImage(
                    rgb, j["view"], {"seed": j["seed"], "prompt": j["prompt"],
                                     "negative_prompt": settings.negative_prompt,
                                     "sd_model": record["models"]["sd_model"],
                                     "controlnet": record["models"]["controlnet"]},
                    control=j["control"]))
        return images

    with torch.inference_mode():
        return write_augmented(ds, out, split, record, make_images, overwrite=overwrite,
                               progress=progress, log=log)
