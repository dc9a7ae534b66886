"""FastAPI app for exploring a trained model: generating from codes, reading codes off images.

    GET  /               the explorer page (static/index.html)
    GET  /api/spec       the model's codes (name, kind, classes and their labels, or value range) and limits
    POST /api/generate   {"seed": 0, "codes": {"c1": 3, "c2": 0.5}, "n": 1} -> image/png
    POST /api/traverse   {"code": "c2", "seeds": [0, 1, 2], "codes": {...}, "range": [-2, 2], "steps": 9}
                         (range and steps: a continuous code only; a categorical one shows every
                         class, or those in "classes": [3, 0, ...], in that order)
                         -> image/png: every class against the seeds, or a continuous code's strip
    POST /api/infer      an image file as the body (Content-Type image/png, image/jpeg, ...)
                         -> {"codes": {"c1": {"class": 7, "probs": [...], "label": "digit 7"}, "c2": {"mean": 0.3}}}

Limits: request bodies up to MAX_BODY bytes (413 beyond), images up to MAX_PIXELS pixels,
generate batches up to MAX_BATCH, traversals up to MAX_SEEDS seeds and MAX_STEPS values.
Every bad request gets a 4xx with {"error": "..."}; nothing a client sends can crash it.
"""

from __future__ import annotations

import io
import math
import threading
from pathlib import Path

import numpy as np
import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from ..data.images import UNREADABLE, decode_image, why_unreadable
from ..errors import DataError, SpecError
from ..latent import CONT_VALUE_LIMIT, MAX_SEED
from ..viz import to_pil, traverse_code

STATIC = Path(__file__).parent / "static"
MAX_BATCH = 64
MAX_BODY = 2 * 2**20  # bytes: a request body larger than this is refused with 413
MAX_PIXELS = 4096 * 4096  # an uploaded image larger than this is refused (decompression bombs)
MAX_SEEDS, MAX_STEPS = 10, 15
SLIDER_LIMIT = 3.0  # sliders span [-3, 3]: the paper's traversals go to +-2, training used +-1


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int = Field(0, ge=0, le=MAX_SEED)
    codes: dict[str, float] = Field(default_factory=dict)
    n: int = Field(1, ge=1, le=MAX_BATCH)


class TraverseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], min_length=1, max_length=MAX_SEEDS)
    codes: dict[str, float] = Field(default_factory=dict)  # the other codes' values
    # a continuous code's values (default -2..2 in 9 steps); a categorical code shows every class
    range: tuple[float, float] | None = None
    steps: int | None = Field(None, ge=2, le=MAX_STEPS)
    classes: list[int] | None = Field(None, min_length=1)  # a categorical code's rows, in this order


def error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def checked_codes(spec, values: dict[str, float]) -> dict:
    """Client code values as the model takes them (class indices as ints); SpecError when bad."""
    codes = {}
    for name, v in values.items():
        code = spec.code(name)
        if code.kind == "cat":
            # range first: int(1e308) is a 300-digit integer that torch cannot hold
            if not (math.isfinite(v) and v == int(v) and 0 <= v < code.size):
                raise SpecError(f"code {name!r} is categorical: it takes class indices 0..{code.size - 1}, got {v}")
            v = int(v)
        codes[name] = v
    spec.check_values(codes)
    return codes


def png(images: torch.Tensor, nrow: int, pad: int = 2) -> Response:
    buf = io.BytesIO()
    to_pil(images, nrow=nrow, pad=pad).save(buf, format="PNG")
    return Response(buf.getvalue(), media_type="image/png", headers={"Cache-Control": "no-store"})


def create_app(model, labels: dict[str, list[str]] | None = None) -> FastAPI:
    """labels: for a categorical code, the dataset label each class was matched to (infer.label_names)."""
    app = FastAPI(title="infogan explorer", docs_url=None, redoc_url=None)
    lock = threading.Lock()  # one model call at a time: torch on 2 cores gains nothing from more
    spec, labels = model.spec, labels or {}

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > MAX_BODY):
            return error(f"request body over the {MAX_BODY} byte limit", 413)
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") == "json_invalid":  # its loc is a character position, which read as a field ("21: ...")
            return error(f"the body is not valid JSON ({first.get('ctx', {}).get('error', 'malformed')} at character "
                         f"{first['loc'][-1]})", 422)
        where = ".".join(str(p) for p in first.get("loc", []) if p != "body") or "body"
        return error(f"{where}: {first.get('msg', 'invalid request')}", 422)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException):  # an unknown path, a wrong method: the same shape
        return error(str(exc.detail), exc.status_code)

    @app.get("/")
    def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/spec")
    def get_spec():
        codes = []
        for c in spec.codes:
            if c.kind == "cat":
                codes.append({"name": c.name, "kind": "cat", "classes": c.size, "labels": labels.get(c.name)})
            else:
                codes.append({"name": c.name, "kind": "cont", "min": -SLIDER_LIMIT, "max": SLIDER_LIMIT,
                              "prior": c.prior})
        return {"latent": str(spec), "image_shape": list(model.image_shape), "codes": codes,
                "dataset": model.config["dataset"],
                "limits": {"max_batch": MAX_BATCH, "value_limit": CONT_VALUE_LIMIT, "max_body_bytes": MAX_BODY,
                           "max_image_pixels": MAX_PIXELS, "max_seeds": MAX_SEEDS, "max_steps": MAX_STEPS}}

    @app.post("/api/generate")
    def generate(req: GenerateRequest):
        try:
            codes = checked_codes(spec, req.codes)
        except SpecError as e:
            return error(str(e))
        with lock:
            images = model.generate(req.n, codes=codes, seed=req.seed)
        return png(images, math.ceil(math.sqrt(req.n)), 0 if req.n == 1 else 2)

    @app.post("/api/traverse")
    def traverse(req: TraverseRequest):
        lo, hi = req.range or (-2.0, 2.0)
        try:
            code = spec.code(req.code)
            if code.kind == "cat" and (req.range is not None or req.steps is not None):
                raise SpecError(f"code {code.name!r} is categorical: its traversal shows every class, "
                                "so range and steps are for continuous codes only")
            if req.classes is not None and code.kind != "cat":
                raise SpecError(f"classes are for a categorical code; {code.name!r} is continuous")
            if req.classes is not None and not (len(set(req.classes)) == len(req.classes)
                                                and all(0 <= k < code.size for k in req.classes)):
                raise SpecError(f"classes must be distinct class indices 0..{code.size - 1}")
            fixed = checked_codes(spec, {k: v for k, v in req.codes.items() if k != req.code})
            if not (abs(lo) <= CONT_VALUE_LIMIT and abs(hi) <= CONT_VALUE_LIMIT):
                raise SpecError(f"range must lie in [-{CONT_VALUE_LIMIT:g}, {CONT_VALUE_LIMIT:g}]")
        except SpecError as e:
            return error(str(e))
        if any(not 0 <= s <= MAX_SEED for s in req.seeds):
            return error(f"seeds must be in 0..{MAX_SEED}", 422)
        with lock:
            images, nrow = traverse_code(model, code.name, req.seeds, torch.linspace(lo, hi, req.steps or 9), fixed,
                                           req.classes)
        return png(images, nrow)

    @app.post("/api/infer")
    async def infer(request: Request, invert: str = "auto"):
        kind = request.headers.get("content-type", "")
        if not kind.startswith("image/"):
            return error(f"send an image file as the body (Content-Type image/png, image/jpeg, ...), not {kind!r}",
                         415)
        if invert not in ("auto", "yes", "no"):
            return error("invert must be auto, yes or no", 422)
        body = bytearray()
        async for chunk in request.stream():  # a body without a Content-Length is held to the limit too
            body += chunk
            if len(body) > MAX_BODY:
                return error(f"request body over the {MAX_BODY} byte limit", 413)
        c, size = model.config["channels"], model.config["image_size"]
        try:
            with Image.open(io.BytesIO(bytes(body))) as img:  # the header only: the size before decoding
                width, height = img.size
        except UNREADABLE as e:
            return error(f"cannot read image upload ({why_unreadable(e)})")
        if width * height > MAX_PIXELS:
            return error(f"image of {width}x{height} pixels: over the {MAX_PIXELS} pixel limit", 413)
        try:
            arr = decode_image(bytes(body), size, c, where="upload")
        except DataError as e:
            return error(str(e))
        if c == 1 and (invert == "yes" or (invert == "auto" and light_background(arr[0]))):
            arr = 255 - arr  # the model reads light strokes on a dark background

        def read():
            with lock:
                return model.infer_codes(torch.tensor(arr[None]), probs=True)

        probs = await run_in_threadpool(read)  # not on the event loop: other requests go on meanwhile
        out = {}
        for code in spec.codes:
            v = probs[code.name][0]
            if code.kind == "cat":
                k = int(v.argmax())
                out[code.name] = {"class": k, "probs": [round(float(p), 5) for p in v]}
                if code.name in labels:
                    out[code.name]["label"] = labels[code.name][k]
            else:
                out[code.name] = {"mean": round(float(v), 5)}
        return {"codes": out, "image": arr.tolist() if size <= 32 else None}

    return app


def light_background(gray: np.ndarray) -> bool:
    """Whether a gray image's border (its outermost pixels) is mostly light."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return float(border.mean()) > 127
