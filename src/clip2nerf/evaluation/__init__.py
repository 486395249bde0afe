"""The paper's experiments on our data, as a Markdown + PNG report (``clip2nerf eval``).

- ``EvalPaths(workdir, data=None, nerfs=None, nf2vec=None)``: inputs and cache
  (``clip2nerf.workdir``).
- ``EvalConfig(vlm="zeroshot", split="test", views=(1, 2, 4, 8, 16), ...)``.
- ``run_eval(paths, config)``: the path of ``report.md``.
- ``prepare(paths, config)``: ``Artefacts``; ``run_experiments(artefacts, config)``:
  ``EvalResults`` (``results.json`` is its ``to_dict()``; ``EvalResults.from_dict`` reads it).
"""

from clip2nerf.evaluation.config import EvalConfig, EvalPaths
from clip2nerf.evaluation.experiments import (
    multiview_retrieval,
    single_view_retrieval,
    text_retrieval,
    view_orders,
    zero_shot,
)
from clip2nerf.evaluation.prepare import Artefacts, prepare
from clip2nerf.evaluation.report import findings, write_report
from clip2nerf.evaluation.results import EvalResults
from clip2nerf.evaluation.run import run_eval, run_experiments

__all__ = [
    "Artefacts",
    "EvalConfig",
    "EvalPaths",
    "EvalResults",
    "findings",
    "multiview_retrieval",
    "prepare",
    "run_eval",
    "run_experiments",
    "single_view_retrieval",
    "text_retrieval",
    "view_orders",
    "write_report",
    "zero_shot",
]
