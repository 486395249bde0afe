"""The 13 object classes of the paper (ShapeNetRender's) and its zero-shot prompt template.

Plain data, no imports: the CLI, the applications and the service read the class list
without loading the synth grammars (trimesh) or torch.
"""

from __future__ import annotations

CLASS_SYNSETS: dict[str, str] = {
    "airplane": "02691156", "bench": "02828884", "cabinet": "02933112", "car": "02958343",
    "chair": "03001627", "display": "03211117", "lamp": "03636649", "speaker": "03691459",
    "rifle": "04090263", "sofa": "04256520", "table": "04379243", "phone": "04401088",
    "watercraft": "04530566",
}
"""Each class's ShapeNetCore synset id, in the fixed class order."""
CLASSES: tuple[str, ...] = tuple(CLASS_SYNSETS)
"""The class names clip2nerf uses, in a fixed order (synth seeds each object by its index)."""
SYNSET_TO_CLASS: dict[str, str] = {synset: name for name, synset in CLASS_SYNSETS.items()}
"""ShapeNetCore synset id -> class name."""

ZERO_SHOT_TEMPLATE = "a 3d model of a {}"
"""The paper's zero-shot prompt (§5); ``{}`` is replaced by the class name."""
