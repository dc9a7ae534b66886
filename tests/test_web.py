"""The explorer's API (FastAPI TestClient) and its page in headless Chromium (Playwright)."""

import io
import os
import shutil
import socket
import threading
import time
from pathlib import Path

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


@pytest.fixture(scope="module")
def client(model):
    return TestClient(create_app(model))


def test_spec_lists_every_code(client):
    spec = client.get("/api/spec").json()
    assert [c["name"] for c in spec["codes"]] == ["c1", "c2", "c3"]
    assert spec["codes"][0] == {"name": "c1", "kind": "cat", "classes": 10}
    assert spec["image_shape"] == [1, 28, 28]


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
])
def test_bad_requests_get_a_clear_4xx(client, body, status, message):
    r = client.post("/api/generate", json=body)
    assert r.status_code == status
    assert message in r.json()["error"]


def test_malformed_json_is_a_4xx(client):
    r = client.post("/api/generate", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "error" in r.json()


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
    import uvicorn

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(model), host="127.0.0.1", port=port, log_level="error"))
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


def test_screenshot_for_the_readme(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 900, "height": 560})
    page.goto(server)
    _wait_renders(page, 1)
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    out = SCREENSHOT_DIR / "explorer.png" if os.environ.get("INFOGAN_WRITE_DOCS") else tmp_path / "explorer.png"
    page.screenshot(path=str(out))
    assert Image.open(out).size == (900, 560)
    page.close()
