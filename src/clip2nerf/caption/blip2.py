"""BLIP-2 captions through ``transformers`` (the paper's captioner, §6.2 / Table 5).

Weights come from a local folder or the Hugging Face cache only (``local_files_only``): a
machine without them gets a UserError that says how to fetch them, never a hang.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clip2nerf.errors import UserError

DEFAULT_BLIP2 = "Salesforce/blip2-opt-2.7b"
"""The BLIP-2 checkpoint with an OPT-2.7B language model."""


class Blip2Captioner:
    """``captions(images)`` -> one sentence per image (greedy decoding).

    Attributes:
        name: ``"blip2:" + model id or folder name``; stored with every caption.
    """

    def __init__(self, model: str = DEFAULT_BLIP2, device: str = "cpu", prompt: str = "",
                 max_new_tokens: int = 30, batch_size: int = 8):
        import torch
        from transformers import Blip2ForConditionalGeneration, Blip2Processor

        if max_new_tokens < 1 or batch_size < 1:
            raise UserError("--max-new-tokens and --batch-size must be at least 1")
        dtype = torch.float16 if torch.device(device).type == "cuda" else torch.float32
        try:
            self.processor = Blip2Processor.from_pretrained(model, local_files_only=True)
            self.model = Blip2ForConditionalGeneration.from_pretrained(
                model, local_files_only=True, dtype=dtype).to(device).eval()
        except (OSError, ValueError) as exc:
            raise UserError(
                f"--model {model}: BLIP-2 weights not found in a local folder or the Hugging "
                f"Face cache ({str(exc).splitlines()[0][:160]}). This command never downloads: "
                f"fetch them where the hub is reachable (`hf download {model}`) or pass a "
                "folder.") from None
        self.device, self.dtype = device, dtype
        self.prompt, self.max_new_tokens, self.batch_size = prompt, max_new_tokens, batch_size
        self.name = "blip2:" + (Path(model).name if Path(model).is_dir() else model)

    def captions(self, images: list[np.ndarray]) -> list[str]:
        """Captions of RGB(A) uint8 images (transparent backgrounds become white)."""
        import torch
        from PIL import Image

        from clip2nerf.vlm.preprocess import to_rgb_array

        out: list[str] = []
        for start in range(0, len(images), self.batch_size):
            batch = [Image.fromarray(to_rgb_array(im)) for im in
                     images[start:start + self.batch_size]]
            kw = {"text": [self.prompt] * len(batch)} if self.prompt else {}
            inputs = self.processor(images=batch, return_tensors="pt", **kw).to(self.device)
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
            with torch.inference_mode():
                ids = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens,
                                          do_sample=False)
            for text in self.processor.batch_decode(ids, skip_special_tokens=True):
                text = " ".join(text.split())
                if self.prompt and text.startswith(self.prompt):
                    text = text[len(self.prompt):].strip()
                out.append(text)
        return out
