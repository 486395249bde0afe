"""The web page in a real browser: Debian's chromium driven by Playwright's Python client.

Playwright's own browser download cannot work offline, so the system Chromium is launched
(``CLIP2NERF_CHROMIUM`` overrides its path). Screenshots go to ``$CLIP2NERF_SCREENSHOTS``
(default: the test's tmp folder).
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from serve_world import png

CHROMIUM = os.environ.get("CLIP2NERF_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SRC = Path(__file__).parents[2] / "src"

pytestmark = pytest.mark.slow


@pytest.fixture
def server(fresh, tmp_path):
    port_file = tmp_path / "port"
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "fake_server.py"),
                             str(fresh["workdir"]), str(port_file)], env=env)
    try:
        deadline = time.monotonic() + 120
        while not port_file.exists():
            assert proc.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield {**fresh, "url": f"http://127.0.0.1:{port_file.read_text()}"}
    finally:
        proc.terminate()
        proc.wait(30)


def test_search_drop_upload_and_generate_in_chromium(server, tmp_path):
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium (see .ci/run)")
    playwright = pytest.importorskip("playwright.sync_api")
    shots = Path(os.environ.get("CLIP2NERF_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": 860})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server["url"] + "/")
        page.wait_for_function("document.getElementById('info').textContent.includes('NeRFs')")
        assert "12 NeRFs" in page.inner_text("#info")

        # 1. text query -> result tiles with loaded thumbnails
        page.fill("#text-query", "a red chair")
        page.click("#text-search")
        page.wait_for_selector(".tile")
        page.wait_for_function("[...document.querySelectorAll('.tile img')].every("
                               "i => i.complete && i.naturalWidth > 0)")
        assert page.locator(".tile").count() == 8  # the page's default k
        assert "a red chair" in page.inner_text("#results-head")
        first = page.locator(".tile").first.inner_text()
        assert "1." in first and "score" in first

        # 2. click a result -> its rendered views and metadata
        page.locator(".tile").first.click()
        page.wait_for_selector("#detail:not([hidden])")
        page.wait_for_function("document.querySelectorAll('#detail-views img').length == 6 && "
                               "[...document.querySelectorAll('#detail-views img')].every("
                               "i => i.complete && i.naturalWidth > 0)")
        assert "class" in page.inner_text("#detail-meta")
        page.screenshot(path=str(shots / "serve-text-search.png"), full_page=True)

        # 3. drop two photos (one multi-view query) on the drop zone
        data = [base64.b64encode(png(32, 32, c)).decode() for c in ((200, 30, 30),
                                                                    (30, 30, 200))]
        dt = page.evaluate_handle(
            """(items) => { const dt = new DataTransfer();
                 items.forEach((b64, i) => { const bytes = Uint8Array.from(atob(b64),
                     c => c.charCodeAt(0));
                   dt.items.add(new File([bytes], `photo${i}.png`, {type: 'image/png'})); });
                 return dt; }""", data)
        page.dispatch_event("#drop-zone", "drop", {"dataTransfer": dt})
        page.wait_for_function("document.getElementById('results-head').textContent"
                               ".includes('2 photos')")
        assert page.locator(".tile").count() == 8
        assert page.locator("#query-previews img").count() == 2

        # 4. and one photo through the file chooser
        photo = tmp_path / "photo.png"
        photo.write_bytes(png(40, 40, (40, 160, 40)))
        page.set_input_files("#image-input", str(photo))
        page.wait_for_function("document.getElementById('results-head').textContent"
                               ".includes('the photo')")

        # 5. upload a NeRF -> its zero-shot label
        page.set_input_files("#nerf-input", str(server["spare"][0]))
        page.wait_for_selector("#nerf-label")
        assert page.inner_text("#nerf-label") in ("chair", "lamp", "car", "table")
        assert page.locator(".bar").count() == 4

        # 6. a bad NeRF -> a readable error, not a crash
        bad = tmp_path / "bad.safetensors"
        bad.write_bytes(b"not a nerf")
        page.set_input_files("#nerf-input", str(bad))
        page.wait_for_selector("#classify-result .error")
        assert "bad.safetensors" in page.inner_text("#classify-result")
        page.set_input_files("#nerf-input", str(server["spare"][0]))
        page.wait_for_selector("#nerf-label")

        # 7. generate views from a sentence
        page.fill("#generate-text", "a 3d model of a chair")
        page.click("#generate-button")
        page.wait_for_function("(() => { const i = document.getElementById('generated');"
                               " return i && i.complete && i.naturalWidth > 0; })()")
        assert page.eval_on_selector("#generated", "i => i.naturalWidth") == 4 * 48
        assert page.is_hidden("#busy")
        page.screenshot(path=str(shots / "serve-page.png"), full_page=True)
        browser.close()
    assert not [e for e in errors if "422" not in e], errors  # the bad NeRF's 422 is expected
