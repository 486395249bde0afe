"""The tiny demo as the tests run it (``tests/conftest.py::tiny_demo``): shorter NeRF fits and
fewer baseline timings so that it fits in CI; nf2vec and the mappers train as in the demo (cut
short, their labels were at chance)."""

QUICK = dict(fit_overrides={"steps": 300}, nf2vec_overrides={}, vlm_overrides={},
             eval_overrides={"views": (1,), "timing_repeats": 1, "timing_objects": 1})
