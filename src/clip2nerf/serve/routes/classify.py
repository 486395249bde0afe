"""The zero-shot classification route: an uploaded NeRF file -> its label (tag ``classify``)."""

import numpy as np
from fastapi import APIRouter, File, UploadFile

from clip2nerf.serve import limits
from clip2nerf.serve.state import ClassifierDep, ModelsDep

router = APIRouter(tags=["classify"])


@router.post("/api/classify")
def classify(classifier: ClassifierDep, models: ModelsDep,
             file: UploadFile = File(..., description="A NeRF file (.safetensors)")):
    """The label of an uploaded NeRF, from its weights, and every class's score, best first."""
    name = file.filename or "upload"
    nerf_set = limits.load_upload_nerf(file.file.read(limits.MAX_NERF_BYTES + 1), name,
                                       models.nf2vec.config.nerf,
                                       output_padding=models.nf2vec.reads_output_padding)
    with models.compute():
        sims = classifier.score_matrices(nerf_set.matrices)[0]
    order = np.argsort(-sims)
    classes = classifier.classes
    return {"file": name, "object_id": nerf_set.ids[0],
            "stored_class": nerf_set.classes[0], "label": classes[int(order[0])],
            "score": round(float(sims[order[0]]), 4),
            "scores": [{"class": classes[int(i)], "score": round(float(sims[i]), 4)}
                       for i in order]}
