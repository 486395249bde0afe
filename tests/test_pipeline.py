import pytest

from clip2nerf.pipeline import Stage, StageRunner


def test_stages_cache_and_rerun_on_param_change(tmp_path):
    calls = []
    runner = StageRunner(tmp_path, echo=lambda m: None)
    a = Stage("a", "first", lambda: calls.append("a") or {"n": 1}, params={"x": 1})
    b = Stage("b", "second", lambda: calls.append("b"), params={"y": [1, 2]})
    runner.run_all([a, b])
    assert calls == ["a", "b"]

    again = StageRunner(tmp_path, echo=lambda m: None)
    results = again.run_all([a, b])
    assert calls == ["a", "b"] and all(r.cached for r in results)
    assert results[0].summary == {"n": 1}
    assert "cached" in again.timing_table()

    # A rerun stage reruns everything downstream: b must not keep a's old result.
    a2 = Stage("a", "first", lambda: calls.append("a2"), params={"x": 2})
    StageRunner(tmp_path, echo=lambda m: None).run_all([a2, b])
    assert calls == ["a", "b", "a2", "b"]


def test_stage_after_an_interrupted_rerun_is_not_kept(tmp_path):
    calls = []
    quiet = {"echo": lambda m: None}
    a = Stage("a", "first", lambda: calls.append("a"), params={"x": 1})
    b = Stage("b", "second", lambda: calls.append("b"))
    c = Stage("c", "third", lambda: calls.append("c"))
    StageRunner(tmp_path, **quiet).run_all([a, b, c])
    # The run that redoes b is killed before c: c's marker is from the old b.
    (tmp_path / ".stages" / "b.json").unlink()
    StageRunner(tmp_path, **quiet).run(b, upstream=StageRunner(tmp_path).upstream_digest([a]))
    assert calls == ["a", "b", "c", "b"]
    StageRunner(tmp_path, **quiet).run_all([a, b, c])
    assert calls == ["a", "b", "c", "b", "c"]


def test_failed_stage_leaves_no_marker(tmp_path):
    def boom():
        raise RuntimeError("killed")

    runner = StageRunner(tmp_path, echo=lambda m: None)
    with pytest.raises(RuntimeError):
        runner.run(Stage("a", "fails", boom))
    assert not (tmp_path / ".stages" / "a.json").exists()


def test_markers_written_before_the_digest_stay_cached(tmp_path):
    import json

    calls = []
    a = Stage("a", "first", lambda: calls.append("a"), params={"x": 1})
    b = Stage("b", "second", lambda: calls.append("b"))
    StageRunner(tmp_path, echo=lambda m: None).run_all([a, b])
    for name in ("a", "b"):  # as an older clip2nerf wrote them
        path = tmp_path / ".stages" / f"{name}.json"
        marker = json.loads(path.read_text())
        del marker["upstream"]
        path.write_text(json.dumps(marker))
    StageRunner(tmp_path, echo=lambda m: None).run_all([a, b])
    assert calls == ["a", "b"]
    assert "upstream" in json.loads((tmp_path / ".stages" / "b.json").read_text())


def test_stage_cached_by_its_outputs_writes_no_marker(tmp_path):
    """Evaluation steps: done() checks their outputs; no marker can go stale."""
    out = tmp_path / "out.txt"
    calls = []

    def make():
        calls.append("make")
        out.write_text("x")

    s = Stage("make-out", "write out.txt", make, done=out.is_file)
    lines: list[str] = []
    runner = StageRunner(tmp_path, echo=lines.append)
    assert not runner.run(s).cached and calls == ["make"]
    assert not (tmp_path / ".stages").exists()
    assert runner.run(s).cached and calls == ["make"]
    assert lines[-1] == "make-out: cached (write out.txt)"
    out.unlink()  # the output went away: the stage runs again
    assert not runner.run(s).cached and calls == ["make", "make"]
    assert "cached" in runner.timing_table()
