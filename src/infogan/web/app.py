"""FastAPI app for exploring a trained model's codes.

    GET  /              the explorer page (static/index.html)
    GET  /api/spec      the model's codes: name, kind, classes or value range
    POST /api/generate  {"seed": 0, "codes": {"c1": 3, "c2": 0.5}, "n": 1} -> image/png

Every bad request gets a 4xx with {"error": "..."}; nothing a client sends can crash it.
"""

from __future__ import annotations

import io
import math
import threading
from pathlib import Path

import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ..errors import SpecError
from ..latent import CONT_VALUE_LIMIT
from ..viz import to_pil

STATIC = Path(__file__).parent / "static"
MAX_BATCH = 64
SLIDER_LIMIT = 3.0  # sliders span [-3, 3]: the paper's traversals go to +-2, training used +-1


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    codes: dict[str, float] = Field(default_factory=dict)
    n: int = Field(1, ge=1, le=MAX_BATCH)


def create_app(model) -> FastAPI:
    app = FastAPI(title="infogan explorer", docs_url=None, redoc_url=None)
    lock = threading.Lock()  # one generation at a time: torch on 2 cores gains nothing from more
    spec = model.spec

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", []) if p != "body")
        msg = first.get("msg", "invalid request")
        return JSONResponse({"error": f"{where + ': ' if where else ''}{msg}"}, status_code=422)

    @app.get("/")
    def index():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/spec")
    def get_spec():
        codes = []
        for c in spec.codes:
            if c.kind == "cat":
                codes.append({"name": c.name, "kind": "cat", "classes": c.size})
            else:
                codes.append({"name": c.name, "kind": "cont", "min": -SLIDER_LIMIT, "max": SLIDER_LIMIT,
                              "prior": c.prior})
        return {"latent": str(spec), "image_shape": list(model.image_shape), "codes": codes,
                "max_batch": MAX_BATCH, "value_limit": CONT_VALUE_LIMIT}

    @app.post("/api/generate")
    def generate(req: GenerateRequest):
        codes = {}
        for name, v in req.codes.items():
            try:
                c = spec.code(name)
            except SpecError as e:
                return JSONResponse({"error": str(e)}, status_code=400)
            codes[name] = int(v) if c.kind == "cat" and float(v).is_integer() else v
        try:
            spec.check_values(codes)
            with lock:
                images = model.generate(req.n, codes=codes, seed=req.seed)
        except SpecError as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        buf = io.BytesIO()
        to_pil(images, nrow=math.ceil(math.sqrt(req.n)), pad=0 if req.n == 1 else 2).save(buf, format="PNG")
        return Response(buf.getvalue(), media_type="image/png", headers={"Cache-Control": "no-store"})

    return app
