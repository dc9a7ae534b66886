"""The explorer's API (FastAPI TestClient) and its page in headless Chromium (Playwright)."""

import io
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from infogan import InfoGAN
from infogan.web import create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT_DIR = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return InfoGAN("z8,cat10,cont2", width=0.125).eval()


LABELS = {"c1": [f"digit {(k + 3) % 10}" for k in range(10)]}  # as a run's evaluation would name the classes


@pytest.fixture(scope="module")
def client(model):
    return TestClient(create_app(model, LABELS))


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def a_seven(light_background: bool = False) -> np.ndarray:
    img = np.zeros((56, 56), np.uint8)
    img[10:16, 12:44] = 255  # the bar
    for y in range(16, 48):  # the stroke down
        x = 40 - (y - 16) // 2
        img[y, x - 3 : x + 3] = 255
    return 255 - img if light_background else img


def test_spec_lists_every_code(client):
    spec = client.get("/api/spec").json()
    assert [c["name"] for c in spec["codes"]] == ["c1", "c2", "c3"]
    assert {k: spec["codes"][0][k] for k in ("name", "kind", "classes")} == {"name": "c1", "kind": "cat", "classes": 10}
    assert spec["codes"][0]["labels"][3] == "digit 6"  # the class names the evaluation matched
    assert spec["image_shape"] == [1, 28, 28] and spec["limits"]["max_body_bytes"] > 0


def test_generate_returns_a_png_that_depends_on_the_codes(client):
    a = client.post("/api/generate", json={"seed": 1, "codes": {"c1": 2, "c2": -1.5}})
    b = client.post("/api/generate", json={"seed": 1, "codes": {"c1": 2, "c2": 1.5}})
    again = client.post("/api/generate", json={"seed": 1, "codes": {"c1": 2, "c2": -1.5}})
    assert a.status_code == 200 and a.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(a.content)).size == (28, 28)
    assert a.content == again.content and a.content != b.content
    grid = client.post("/api/generate", json={"seed": 1, "n": 16})
    assert Image.open(io.BytesIO(grid.content)).size == (4 * 30 + 2, 4 * 30 + 2)


@pytest.mark.parametrize("body, status, message", [
    ({"codes": {"zz": 1}}, 400, "unknown code 'zz'"),
    ({"codes": {"c1": 10}}, 400, "class indices 0..9"),
    ({"codes": {"c1": 2.5}}, 400, "categorical"),
    ({"codes": {"c2": 1e9}}, 400, "takes values in"),
    ({"n": 100000}, 422, "n: Input should be less than or equal to 64"),
    ({"seed": -1}, 422, "seed"),
    ({"codes": {"c2": "left"}}, 422, "codes.c2"),
    ({"extra": 1}, 422, "extra"),
    ({"codes": {"c1": 1e308}}, 400, "class indices 0..9"),  # once an overflow and a 500
    ({"codes": {"c1": -1e308}}, 400, "class indices 0..9"),
    ({"codes": {"c2": -1e308}}, 400, "takes values in"),
])
def test_bad_requests_get_a_clear_4xx(client, body, status, message):
    r = client.post("/api/generate", json=body)
    assert r.status_code == status
    assert message in r.json()["error"]


def test_malformed_json_is_a_4xx(client):
    r = client.post("/api/generate", content=b"{not json", headers={"Content-Type": "application/json"})
    # was "1: JSON decode error", the character position read as a field's name
    said = r.json()["error"]
    assert r.status_code == 422 and said.startswith("the body is not valid JSON (") and said.endswith(" at character 1)")
    r = client.post("/api/generate", content=b"[1, 2]", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"].startswith("body: ")
    for body in (b'{"codes": {"c1": NaN}}', b'{"codes": {"c1": Infinity}}', b'{"codes": {"c2": NaN}}',
                 b'{"seed": 1e400}', b'[1, 2]', b'null'):
        r = client.post("/api/generate", content=body, headers={"Content-Type": "application/json"})
        assert 400 <= r.status_code < 500 and "error" in r.json(), body


def test_an_unknown_path_or_method_gets_the_same_error_shape(client):
    # the page and clients read {"error": ...}; FastAPI's own 404 and 405 said {"detail": ...}
    for r, status in ((client.get("/api/nothing"), 404), (client.get("/api/generate"), 405)):
        assert r.status_code == status and r.json() == {"error": {404: "Not Found", 405: "Method Not Allowed"}[status]}


def test_an_oversize_body_is_a_413(client):
    from infogan.web.app import MAX_BODY

    for path in ("/api/generate", "/api/infer", "/api/traverse"):
        r = client.post(path, content=b"x" * (MAX_BODY + 1), headers={"Content-Type": "image/png"})
        assert r.status_code == 413 and "limit" in r.json()["error"], path


def test_infer_reads_an_uploaded_image(client):
    r = client.post("/api/infer", content=png_bytes(a_seven()), headers={"Content-Type": "image/png"})
    assert r.status_code == 200
    c1 = r.json()["codes"]["c1"]
    assert len(c1["probs"]) == 10 and abs(sum(c1["probs"]) - 1) < 1e-3 and c1["probs"][c1["class"]] == max(c1["probs"])
    assert c1["label"] == LABELS["c1"][c1["class"]] and set(r.json()["codes"]["c2"]) == {"mean"}
    seen = np.array(r.json()["image"][0])
    assert seen.shape == (28, 28) and seen[:3].max() == 0  # resized to the model's size, background dark
    # dark strokes on white are inverted (auto) into what the model was trained on
    light = client.post("/api/infer", content=png_bytes(a_seven(True)), headers={"Content-Type": "image/png"})
    diff = np.abs(np.array(light.json()["image"]) - np.array(r.json()["image"]))
    assert diff.mean() < 1 and light.json()["codes"]["c1"]["class"] == c1["class"]  # (bicubic rounding aside)


@pytest.mark.parametrize("body, kind, status, message", [
    (b"GIF89a but not really", "image/gif", 400, "cannot read image"),
    (b"hello", "text/plain", 415, "send an image file"),
    (b"hello", None, 415, "send an image file"),
    ("huge", "image/png", 413, "pixel limit"),
])
def test_bad_uploads_get_a_clear_4xx(client, body, kind, status, message):
    if body == "huge":  # a small file of many pixels: a decompression bomb's shape
        body = png_bytes(np.zeros((5000, 4000), np.uint8))
    headers = {"Content-Type": kind} if kind else {}
    r = client.post("/api/infer", content=body, headers=headers)
    assert r.status_code == status and message in r.json()["error"]


def test_traverse_draws_the_grid_and_the_strip(client):
    grid = client.post("/api/traverse", json={"code": "c1", "seeds": [0, 1, 2, 3, 4]})
    assert Image.open(io.BytesIO(grid.content)).size == (5 * 30 + 2, 10 * 30 + 2)  # seeds across, classes down
    strip = client.post("/api/traverse", json={"code": "c2", "seeds": [7], "steps": 9, "codes": {"c1": 3}})
    assert Image.open(io.BytesIO(strip.content)).size == (9 * 30 + 2, 30 + 2)
    for body, status in (({"code": "zz"}, 400), ({"code": "c2", "range": [-1e9, 1]}, 400),
                         ({"code": "c1", "seeds": list(range(50))}, 422), ({"code": "c1", "steps": 1000}, 422),
                         ({"code": "c1", "codes": {"c2": 1e308}}, 400), ({"code": "c1", "seeds": [-1]}, 422),
                         ({"code": "c1", "range": [-1, 1]}, 400), ({"code": "c1", "steps": 5}, 400)):
        r = client.post("/api/traverse", json=body)
        assert r.status_code == status and "error" in r.json(), body


def test_traverse_draws_the_classes_asked_for_in_their_order(client):
    whole = Image.open(io.BytesIO(client.post("/api/traverse", json={"code": "c1", "seeds": [0, 1]}).content))
    two = Image.open(io.BytesIO(client.post("/api/traverse", json={"code": "c1", "seeds": [0, 1],
                                                                   "classes": [7, 2]}).content))
    assert two.size == (2 * 30 + 2, 2 * 30 + 2)
    row = lambda img, i: np.asarray(img)[2 + 30 * i : 30 * (i + 1), 2:]  # noqa: E731  (a row of the grid, no border)
    assert np.array_equal(row(two, 0), row(whole, 7)) and np.array_equal(row(two, 1), row(whole, 2))
    for body, status in (({"code": "c2", "classes": [1]}, 400), ({"code": "c1", "classes": [1, 1]}, 400),
                         ({"code": "c1", "classes": [10]}, 400), ({"code": "c1", "classes": []}, 422)):
        r = client.post("/api/traverse", json=body)
        assert r.status_code == status and "error" in r.json(), body


def test_server_binds_loopback_by_default():
    from infogan.cli import build_parser

    args = build_parser().parse_args(["serve", "somewhere"])
    assert args.host == "127.0.0.1"


# ------------------------------------------------------------------ browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(model):
    """The explorer on loopback: the tiny test model, or (INFOGAN_DOCS_MODEL=RUN_DIR, for the README's
    screenshots) a trained run with the class names its evaluation matched."""
    import uvicorn

    app = create_app(model, LABELS)
    if os.environ.get("INFOGAN_DOCS_MODEL"):
        from infogan.infer import label_names
        from infogan.run import model_and_run

        trained, run = model_and_run(os.environ["INFOGAN_DOCS_MODEL"])
        app = create_app(trained, label_names(trained, run)[0])
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(100):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(5)


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("INFOGAN_REQUIRE_BROWSER"):
            pytest.fail(f"Debian's chromium is required for the browser tests but {CHROMIUM} is missing")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


PIXELS = """() => { const img = document.getElementById('image');
  const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0); return c.toDataURL(); }"""


def _wait_renders(page, n):
    page.wait_for_function(f"Number(document.getElementById('image').dataset.renders || 0) >= {n}")


def test_moving_a_slider_changes_the_image(server, browser):
    page = browser.new_page()
    page.goto(server)
    _wait_renders(page, 1)
    assert page.locator("#code-c1").evaluate("e => e.tagName") == "SELECT"
    assert page.locator("#code-c1").input_value() == "0"  # the class drawn first, listed by its name
    assert page.locator("#code-c1 option").first.text_content() == "class 7 = digit 0"
    assert "images up to 2 MB and 4096\u00d74096 pixels" in page.locator("#limits").text_content()  # was 16777216
    first = page.evaluate(PIXELS)
    renders = int(page.locator("#image").get_attribute("data-renders"))
    slider = page.locator("#code-c2")
    slider.focus()
    for _ in range(30):  # arrow keys fire 'input' events like a user dragging
        page.keyboard.press("ArrowRight")
    page.wait_for_function("document.querySelector('#code-c2 + .value').textContent === '1.50'")
    _wait_renders(page, renders + 1)
    page.wait_for_timeout(200)  # let the last queued render land
    assert page.evaluate(PIXELS) != first
    page.select_option("#code-c1", "7")
    page.wait_for_timeout(300)
    assert page.locator("#error").text_content() == ""
    page.close()


def _reads(page) -> int:
    return int(page.locator("#bars").get_attribute("data-reads") or 0)


def test_uploading_an_image_reads_its_codes_and_redraws_them(server, browser, tmp_path):
    page = browser.new_page()
    page.goto(server)
    _wait_renders(page, 1)
    (tmp_path / "seven.png").write_bytes(png_bytes(a_seven(light_background=True)))
    renders = int(page.locator("#image").get_attribute("data-renders"))
    page.set_input_files("#upload", str(tmp_path / "seven.png"))
    page.wait_for_function("Number(document.getElementById('bars').dataset.reads || 0) >= 1")
    assert page.locator("#bars .bar").count() == 10  # a bar per class of c1
    names = [t.split()[1] for t in page.locator("#bars .bar span:first-child").all_text_contents()]
    assert names == [str(d) for d in range(10)]  # by their names (digit 0 to 9), not by the code's class order
    top = page.locator("#bars .bar.top span").first.text_content()
    chosen = page.locator("#code-c1").input_value()
    assert page.locator(f"#code-c1 option[value='{chosen}']").text_content().endswith(top)  # the select follows Q
    _wait_renders(page, renders + 1)  # the generator redraws what Q read
    assert page.evaluate("document.getElementById('seen').naturalWidth") == 28
    # a file that is not an image gets the server's message, not a broken page
    (tmp_path / "notes.png").write_text("not an image")
    page.set_input_files("#upload", str(tmp_path / "notes.png"))
    page.wait_for_function("document.getElementById('read-error').textContent.includes('cannot read image')")
    page.close()


def test_drawing_on_the_canvas_reads_the_drawing(server, browser):
    page = browser.new_page()
    page.goto(server)
    _wait_renders(page, 1)
    box = page.locator("#canvas").bounding_box()
    page.mouse.move(box["x"] + 60, box["y"] + 50)
    page.mouse.down()
    for x, y in ((160, 50), (150, 80), (120, 140), (95, 190)):  # a seven
        page.mouse.move(box["x"] + x, box["y"] + y, steps=8)
    page.mouse.up()
    page.wait_for_function("Number(document.getElementById('bars').dataset.reads || 0) >= 1")
    assert page.locator("#bars .bar").count() == 10
    assert page.locator("#read-error").text_content() == ""
    page.close()


def test_the_grid_view_shows_every_class_and_a_traversal_strip(server, browser):
    page = browser.new_page()
    page.goto(server)
    _wait_renders(page, 1)
    page.click("#tab-grid")
    assert page.locator("#explore-view").is_hidden() and page.locator("#grid-view").is_visible()
    page.wait_for_function("Number(document.getElementById('grid-image').dataset.loads || 0) >= 1 && "
                           "Number(document.getElementById('strip-image').dataset.loads || 0) >= 1")
    size = page.evaluate("[document.getElementById('grid-image').naturalWidth, document.getElementById('grid-image').naturalHeight]")
    assert size == [5 * 30 + 2, 10 * 30 + 2]  # seeds 0-4 across, the 10 classes down
    # rows by their names, digit 0 to 9 (LABELS names class k digit (k + 3) % 10), as the paper's Fig. 2a
    assert page.locator("#grid-labels span").all_text_contents() == [f"digit {d}" for d in range(10)]
    page.fill("#grid-seeds", "3,5")
    page.dispatch_event("#grid-seeds", "change")
    page.wait_for_function("document.getElementById('grid-image').naturalWidth === 2 * 30 + 2")
    page.select_option("#strip-code", "c3")
    page.wait_for_function("document.getElementById('strip-image').dataset.code === 'c3'")
    assert page.evaluate("document.getElementById('strip-image').naturalWidth") == 9 * 30 + 2
    page.fill("#grid-seeds", "x")
    page.dispatch_event("#grid-seeds", "change")
    assert "seeds" in page.locator("#grid-error").text_content()
    page.close()


def test_screenshots_for_the_readme(server, browser, tmp_path):
    """docs/explorer.png (reading a drawn digit) and docs/explorer-grid.png, when INFOGAN_WRITE_DOCS is set."""
    docs = SCREENSHOT_DIR if os.environ.get("INFOGAN_WRITE_DOCS") else tmp_path
    docs.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 640})
    page.goto(server)
    _wait_renders(page, 1)
    box = page.locator("#canvas").bounding_box()
    page.mouse.move(box["x"] + 60, box["y"] + 45)
    page.mouse.down()
    for x, y in ((190, 60), (175, 100), (140, 150), (120, 200)):
        page.mouse.move(box["x"] + x, box["y"] + y, steps=8)
    page.mouse.up()
    page.wait_for_function("Number(document.getElementById('bars').dataset.reads || 0) >= 1")
    page.wait_for_timeout(300)
    page.screenshot(path=str(docs / "explorer.png"))
    page.click("#tab-grid")
    page.wait_for_function("Number(document.getElementById('strip-image').dataset.loads || 0) >= 1 && "
                           "Number(document.getElementById('grid-image').dataset.loads || 0) >= 1")
    page.wait_for_timeout(200)
    page.screenshot(path=str(docs / "explorer-grid.png"))
    assert Image.open(docs / "explorer.png").size == Image.open(docs / "explorer-grid.png").size == (1280, 640)
    page.close()


def test_a_dsprites_model_is_served_too():
    """Five continuous codes, 64x64: every endpoint works (the page hides the 28-px drawing canvas)."""
    torch.manual_seed(0)
    client = TestClient(create_app(InfoGAN("z5:uniform,cont5", arch="sprites", image_size=64, width=0.25).eval()))
    spec = client.get("/api/spec").json()
    assert [c["kind"] for c in spec["codes"]] == ["cont"] * 5 and spec["image_shape"] == [1, 64, 64]
    assert Image.open(io.BytesIO(client.post("/api/generate", json={"codes": {"c3": 1.5}}).content)).size == (64, 64)
    strip = client.post("/api/traverse", json={"code": "c2", "seeds": [0], "steps": 5})
    assert Image.open(io.BytesIO(strip.content)).size == (5 * 66 + 2, 66 + 2)
    read = client.post("/api/infer", content=png_bytes(np.zeros((64, 64), np.uint8)), headers={"Content-Type": "image/png"})
    assert set(read.json()["codes"]) == {"c1", "c2", "c3", "c4", "c5"} and read.json()["image"] is None
