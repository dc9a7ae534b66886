"""The explorer under load: 200 generate and 200 infer requests, 8 at a time, at a served
paper-size MNIST model on loopback; every one succeeds and the server's memory stays bounded."""

import io
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import torch
from PIL import Image

from infogan import InfoGAN

REQUESTS, CONCURRENCY = 200, 8
DOCS = Path(__file__).resolve().parents[1] / "docs"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def a_digit(i: int) -> bytes:
    rng = np.random.default_rng(i)
    img = np.zeros((28, 28), np.uint8)
    img[rng.integers(4, 12) : rng.integers(16, 24), rng.integers(8, 12) : rng.integers(16, 20)] = 255
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def test_two_hundred_generate_and_infer_requests_eight_at_a_time(tmp_path):
    torch.manual_seed(0)
    InfoGAN("z62,cat10,cont2").save_pretrained(tmp_path / "model")  # the paper's networks: realistic work
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "infogan", "serve", str(tmp_path / "model"), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(base + "/api/spec", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        digits = [a_digit(i) for i in range(REQUESTS)]

        def call(job):
            kind, i = job
            with httpx.Client(base_url=base, timeout=30) as client:
                t = time.perf_counter()
                if kind == "generate":
                    r = client.post("/api/generate", json={"seed": i, "codes": {"c1": i % 10, "c2": (i % 7) / 3 - 1}})
                else:
                    r = client.post("/api/infer", content=digits[i], headers={"Content-Type": "image/png"})
                return kind, r.status_code, time.perf_counter() - t

        jobs = [(kind, i) for i in range(REQUESTS) for kind in ("generate", "infer")]
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(call, jobs[:40]))  # warm-up: the allocator and the kernels settle
            before = rss_mb(server.pid)
            results = list(pool.map(call, jobs))
            after = rss_mb(server.pid)
            results += list(pool.map(call, jobs))  # a second round: memory must not keep growing
            again = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(10)
    assert all(status == 200 for _, status, _ in results), {s for _, s, _ in results}
    latency = {}
    for kind in ("generate", "infer"):
        ms = sorted(1000 * t for k, _, t in results if k == kind)
        latency[kind] = {"median_ms": round(statistics.median(ms), 1), "p95_ms": round(ms[int(0.95 * len(ms))], 1)}
    report = {"requests": len(results), "concurrency": CONCURRENCY, "latency": latency, "cpu_threads": 1,
              "rss_mb": {"after_warmup": round(before, 1), "after_800": round(after, 1), "after_1600": round(again, 1)},
              "model": "paper MNIST networks (z62 + Cat(10) + 2 continuous), CPU"}
    print(json.dumps(report))
    if os.environ.get("INFOGAN_WRITE_DOCS"):
        (DOCS / "load.json").write_text(json.dumps(report, indent=2) + "\n")
    assert after - before < 100 and again - after < 25  # bounded: no per-request leak
