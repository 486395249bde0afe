"""The docs' tutorials run: every code block marked ``<!-- docs-test -->`` is executed.

A marked block runs on a copy of the session's tiny demo workdir, named ``clip2nerf-demo`` in
the current directory as in the docs (the getting-started command makes the same folder with
``--preset small``). A page's blocks run in order, shell blocks with ``bash -euo pipefail`` and
Python blocks in one namespace per page, so later blocks see earlier results. ``EXPECTED``
holds how many marked blocks each page has: a marker lost in an edit fails here instead of
silently leaving a block untested.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# The session's tiny demo is built in the first test's setup: about 8 minutes on 2 quiet cores,
# more beside other jobs, over the suite's 900 s default.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

DOCS = Path(__file__).resolve().parents[2] / "docs"
MARKER = "<!-- docs-test -->"
MARKER_LINE = re.compile(r"^" + re.escape(MARKER) + r"$", re.MULTILINE)  # not quoted in prose
BLOCK = re.compile(r"^" + re.escape(MARKER) + r"\n```(\w+)[^\n]*\n(.*?)^```\s*$",
                   re.MULTILINE | re.DOTALL)

# page -> number of executed blocks on it
EXPECTED = {
    "tutorials/own-nerfs.md": 10,
    "tutorials/paper-data.md": 2,
    "tutorials/serve.md": 2,
    "tutorials/ray.md": 1,
}


def marked_blocks(page: Path) -> list[tuple[str, str]]:
    """``(language, code)`` of every marked block of a Markdown page, in order."""
    text = page.read_text()
    blocks = BLOCK.findall(text)
    if len(MARKER_LINE.findall(text)) != len(blocks):
        raise AssertionError(f"{page}: a {MARKER} line is not directly above a fenced block")
    return blocks


def test_every_marked_page_is_listed():
    marked = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")
              if MARKER_LINE.search(p.read_text())}
    assert marked == set(EXPECTED)


@pytest.fixture()
def demo_copy(tiny_demo, tmp_path, monkeypatch):
    workdir, _, _ = tiny_demo
    shutil.copytree(workdir, tmp_path / "clip2nerf-demo", symlinks=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("page", sorted(EXPECTED))
def test_tutorial_blocks_run(page, demo_copy):
    blocks = marked_blocks(DOCS / page)
    assert len(blocks) == EXPECTED[page]
    namespace: dict = {"__name__": "__docs__"}
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for n, (language, code) in enumerate(blocks, 1):
        where = f"{page}, marked block {n} ({language})"
        if language in ("bash", "sh", "console"):
            proc = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=demo_copy,
                                  env=env, capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, f"{where} failed:\n{code}\n{proc.stdout}\n{proc.stderr}"
        elif language == "python":
            exec(compile(code, where, "exec"), namespace)  # noqa: S102 - our own docs' code
        else:
            raise AssertionError(f"{where}: cannot run a {language!r} block")
