"""Two evaluations of one workdir side by side: the zero-shot VLM's and the adapted VLM's.

Both read the same NeRFs, nf2vec model and rendered views; only the VLM (and so the view and
caption embeddings and the mappers trained on them) differs. The page answers "how much of each
finding is the method, and how much is a VLM that has seen this dataset's renders?".
"""

from __future__ import annotations

from pathlib import Path

from clip2nerf.evaluation.results import EvalResults
from clip2nerf.utils.io import atomic_write_text, read_json


def key_figures(res: EvalResults) -> list[tuple[str, float | None]]:
    """(row name, value in [0, 1]) of the figures the paper's claims rest on."""
    t1 = res.zero_shot.table1
    base = [r for r in t1 if r.views]
    one = next((r for r in base if r.views == 1), None)
    many = max(base, key=lambda r: r.views) if base else None
    n2c = {r.method.split(" (")[0]: r.accuracy for r in t1
           if r.method.startswith("nerf2clip") and "file" not in r.method}
    oracle = next((r.accuracy for r in t1 if r.method.startswith("nf2vec oracle")), None)
    t3 = {r.method: r.recall for r in res.single_view.table3}
    t5 = {r.method: r.recall for r in res.text.table5}

    def r1(table: dict[str, dict[int, float]], name: str) -> float | None:
        return table.get(name, {}).get(1)

    return [
        ("zero-shot labels, VLM on 1 rendered view", one and one.accuracy),
        (f"zero-shot labels, VLM on {many and many.views} rendered views",
         many and many.accuracy),
        ("zero-shot labels from the weights, nerf2clip GT", n2c.get("nerf2clip GT")),
        ("zero-shot labels from the weights, nerf2clip rendered", n2c.get("nerf2clip rendered")),
        ("nf2vec oracle (supervised)", oracle),
        ("image→NeRF R@1, clip2nerf GT", r1(t3, "clip2nerf GT")),
        ("image→NeRF R@1, VLM gallery GT mean", r1(t3, "VLM GT mean")),
        ("image→NeRF R@1, VLM gallery GT all", r1(t3, "VLM GT all")),
        ("text→NeRF R@1, clip2nerf GT", r1(t5, "clip2nerf GT")),
        ("text→NeRF R@1, clip2nerf GT multimodal", r1(t5, "clip2nerf GT multimodal")),
        ("text→NeRF R@1, VLM gallery GT mean", r1(t5, "VLM GT mean")),
    ]


def _cell(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def comparison_markdown(zero_shot: EvalResults, adapted: EvalResults) -> str:
    """The page: the key figures of both evaluations, then each one's findings."""
    zs, ad = key_figures(zero_shot), key_figures(adapted)
    meta_z, meta_a = zero_shot.meta, adapted.meta
    lines = [
        "# Zero-shot VLM vs adapted VLM",
        "",
        f"Dataset `{meta_z.dataset}` (preset {meta_z.preset}), evaluated split "
        f"`{meta_z.split}`, {meta_z.n_objects} NeRFs; the same NeRFs, nf2vec model and "
        "rendered views in both columns.",
        "",
        f"- **zero-shot**: `{meta_z.vlm}`: {meta_z.vlm_note}",
        f"- **adapted**: `{meta_a.vlm}`: {meta_a.vlm_note}",
        "",
        "| figure (%) | zero-shot VLM | adapted VLM (NOT zero-shot) |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {_cell(a)} | {_cell(b)} |"
              for (name, a), (_, b) in zip(zs, ad, strict=True)]
    lines += ["", "## The paper's findings, with each VLM", "", "Zero-shot VLM:", ""]
    lines += [f"- {f}" for f in zero_shot.findings]
    lines += ["", "Adapted VLM:", ""]
    lines += [f"- {f}" for f in adapted.findings]
    lines += ["", "Full reports: `report.md` (zero-shot) and `adapted/report/report.md`.", ""]
    return "\n".join(lines)


def write_vlm_comparison(zero_shot_results: Path, adapted_results: Path, out: Path) -> Path:
    """Write the side-by-side page from two ``results.json`` files; returns ``out``."""
    text = comparison_markdown(EvalResults.from_dict(read_json(zero_shot_results)),
                               EvalResults.from_dict(read_json(adapted_results)))
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, text)
    return out


__all__ = ["comparison_markdown", "key_figures", "write_vlm_comparison"]
