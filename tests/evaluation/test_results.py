"""The typed results: results.json read and written back unchanged, and the report written
from a results.json file as the run that made it wrote it.

``fixtures/results.json`` and ``fixtures/report.md`` were written by the code before
``EvalResults`` (the dict-based report) from one tiny-world run; no number is recomputed here,
so the comparison is exact.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from clip2nerf.evaluation import EvalResults, findings, write_report

FIXTURES = Path(__file__).parent / "fixtures"


def test_results_json_round_trips_byte_for_byte():
    text = (FIXTURES / "results.json").read_text()
    res = EvalResults.from_dict(json.loads(text))
    assert json.dumps(res.to_dict(), indent=2) + "\n" == text
    assert res.single_view.table3[0].recall.keys() <= {1, 5, 10}  # integer k in memory
    assert res.zero_shot.table1[-1].file_io is False and res.zero_shot.table1[-2].file_io


def test_report_from_a_results_file_matches_the_dict_based_report(tmp_path):
    res = EvalResults.from_dict(json.loads((FIXTURES / "results.json").read_text()))
    assert findings(res) == list(res.findings)
    path = write_report(res, tmp_path)
    assert path.read_text() == (FIXTURES / "report.md").read_text()
    assert {p.name for p in tmp_path.glob("*.png")} == {"fig4_zero_shot.png",
                                                        "fig7_multiview.png"}


def test_rows_without_optional_keys_leave_them_out():
    res = EvalResults.from_dict(json.loads((FIXTURES / "results.json").read_text()))
    bare = replace(res, meta=None, syn2real=None,
                   single_view=replace(res.single_view, table3_paper_scale=None))
    d = bare.to_dict()
    assert list(d) == ["zero_shot", "single_view", "multi_view", "text"]
    assert "table3_paper_scale" not in d["single_view"]
    assert all("nerfs_per_s" not in r for r in d["zero_shot"]["table1"][:-2])
