"""LatentSpec: the noise z and the latent codes c that G reads and Q predicts.

Compact string form (used by ``--latent``), tokens separated by commas::

    z62                 62 noise dims, N(0, 1)            (z62:uniform for U(-1, 1))
    cat10               one categorical code with 10 classes, uniform prior
    cont2               two continuous codes, U(-1, 1) prior, Q learns each std
    cont2:normal        ... with a N(0, 1) prior instead
    cont2:fixed         ... Q uses a fixed unit std (loss = squared error / 2 + const)
    digit=cat10         a code with a name of its own (default names: c1, c2, ...)
    cont2@0.5           this code's lambda (default: 1 for cat, 0.1 for cont)

The paper's MNIST spec is ``z62,cat10,cont2``: c1 ~ Cat(10), c2, c3 ~ U(-1, 1).
Options combine in any order: ``rot=cont1:normal:fixed@0.2``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .errors import SpecError

DEFAULT_LAMBDA = {"cat": 1.0, "cont": 0.1}
# Continuous code values accepted by generate(): the paper traverses -2..2 although it trains
# on [-1, 1]; far beyond that G's output means nothing.
CONT_VALUE_LIMIT = 10.0

# The seeds a user may give, everywhere (training, sampling, the explorer's JSON): larger ones overflowed
# torch's generator with a traceback, and negative ones were taken silently. Inside, seeds derived from
# them (seed + 12345, seed + i) stay within what torch takes.
MAX_SEED = 2**31 - 1


def parse_seeds(text: str) -> list[int]:
    """'0-9' or '1,5,7' (or a mix: '0-3,10') -> list of non-negative seeds."""
    seeds = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise SpecError(f"bad seed list {text!r} (expected e.g. 0-9 or 1,5,7)")
        a, b = int(m[1]), int(m[2] or m[1])
        seeds.extend(range(a, b + 1))
    if not seeds or len(seeds) > 1000:
        raise SpecError(f"seed list {text!r} must give 1 to 1000 seeds")
    if max(seeds) > MAX_SEED:
        raise SpecError(f"seed list {text!r}: seeds must be in 0..{MAX_SEED}")
    return seeds


_TOKEN = re.compile(
    r"^(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)=)?"
    r"(?P<kind>z|cat|cont)(?P<n>\d+)"
    r"(?P<opts>(?::[a-z]+)*)"
    r"(?:@(?P<lam>\d+(?:\.\d*)?(?:e-?\d+)?))?$"
)


@dataclass(frozen=True)
class Code:
    """One latent code. A ``cont`` token with n > 1 expands to n one-dimensional codes."""

    name: str
    kind: str  # "cat" or "cont"
    size: int  # classes for cat; 1 for cont
    prior: str = "uniform"  # cat: uniform over classes; cont: "uniform" (-1,1) or "normal"
    learn_std: bool = True  # cont only: Q predicts a std, else std = 1
    lam: float = 1.0

    @property
    def q_outputs(self) -> int:
        """How many numbers Q's head emits for this code."""
        if self.kind == "cat":
            return self.size
        return 2 if self.learn_std else 1

    @property
    def entropy(self) -> float:
        """H(c) in nats: the most the MI lower bound can reach."""
        if self.kind == "cat":
            return math.log(self.size)
        if self.prior == "uniform":
            return math.log(2.0)
        return 0.5 * math.log(2 * math.pi * math.e)


@dataclass(frozen=True)
class LatentSpec:
    noise: int
    codes: tuple[Code, ...] = field(default_factory=tuple)
    noise_prior: str = "normal"

    # ---------------------------------------------------------------- parsing
    @classmethod
    def parse(cls, text: str, lambda_cat: float | None = None, lambda_cont: float | None = None) -> "LatentSpec":
        """Parse the compact form; raise SpecError naming the bad token.

        lambda_cat / lambda_cont replace the default lambdas of codes without an @lambda.
        """
        default_lam = dict(DEFAULT_LAMBDA)
        if lambda_cat is not None:
            default_lam["cat"] = lambda_cat
        if lambda_cont is not None:
            default_lam["cont"] = lambda_cont
        if not isinstance(text, str) or not text.strip():
            raise SpecError("empty latent spec (example: 'z62,cat10,cont2')")
        noise, noise_prior, codes, n_auto = None, "normal", [], 0
        for raw in text.split(","):
            tok = raw.strip()
            m = _TOKEN.match(tok)
            if not m:
                raise SpecError(
                    f"malformed latent spec token {tok!r} in {text!r} "
                    "(expected e.g. z62, cat10, cont2, name=cat10, cont2:fixed, cont1@0.1)"
                )
            kind, n = m["kind"], int(m["n"])
            opts = [o for o in m["opts"].split(":") if o]
            if n < 1 or (kind == "cat" and n < 2):
                raise SpecError(f"latent spec token {tok!r}: size must be >= {2 if kind == 'cat' else 1}")
            if kind == "z":
                if noise is not None:
                    raise SpecError(f"latent spec {text!r} names the noise twice")
                if m["name"] or m["lam"]:
                    raise SpecError(f"latent spec token {tok!r}: noise takes no name or lambda")
                bad = [o for o in opts if o not in ("normal", "uniform")]
                if bad or len(opts) > 1:
                    raise SpecError(f"latent spec token {tok!r}: noise options are :normal or :uniform")
                noise, noise_prior = n, (opts[0] if opts else "normal")
                continue
            allowed = {"cat": set(), "cont": {"uniform", "normal", "fixed", "learned"}}[kind]
            bad = [o for o in opts if o not in allowed]
            if bad:
                raise SpecError(f"latent spec token {tok!r}: unknown option :{bad[0]} for {kind}")
            lam = float(m["lam"]) if m["lam"] else default_lam[kind]
            prior = "normal" if "normal" in opts else "uniform"
            learn_std = "fixed" not in opts
            count, size = (1, n) if kind == "cat" else (n, 1)
            for i in range(count):
                if m["name"]:
                    name = m["name"] if count == 1 else f"{m['name']}{i + 1}"
                else:
                    n_auto += 1
                    name = f"c{n_auto}"
                codes.append(Code(name, kind, size, prior, learn_std, lam))
        if noise is None:
            noise = 0
        names = [c.name for c in codes]
        dup = {x for x in names if names.count(x) > 1}
        if dup:
            raise SpecError(f"latent spec {text!r} uses the code name {sorted(dup)[0]!r} twice")
        if noise + sum(c.size for c in codes) == 0:
            raise SpecError(f"latent spec {text!r} has no dimensions")
        return cls(noise, tuple(codes), noise_prior)

    def __str__(self) -> str:
        parts = [f"z{self.noise}" + (":uniform" if self.noise_prior == "uniform" else "")] if self.noise else []
        for i, c in enumerate(self.codes):
            auto = f"c{i + 1}"
            head = "" if c.name == auto else f"{c.name}="
            if c.kind == "cat":
                parts.append(f"{head}cat{c.size}@{c.lam:g}")
            else:
                opts = (":normal" if c.prior == "normal" else "") + ("" if c.learn_std else ":fixed")
                parts.append(f"{head}cont1{opts}@{c.lam:g}")
        return ",".join(parts)

    # ---------------------------------------------------------------- sizes
    @property
    def code_dim(self) -> int:
        return sum(c.size for c in self.codes)

    @property
    def dim(self) -> int:
        """Length of G's input vector: noise then codes (one-hot for categorical)."""
        return self.noise + self.code_dim

    @property
    def q_dim(self) -> int:
        return sum(c.q_outputs for c in self.codes)

    @property
    def q_layout(self) -> list[tuple[str, int]]:
        """(kind, Q outputs) per code, in Q's output order (see split_q)."""
        return [(c.kind, c.q_outputs) for c in self.codes]

    def code(self, name: str) -> Code:
        for c in self.codes:
            if c.name == name:
                return c
        raise SpecError(f"unknown code {name!r}; this model has {', '.join(c.name for c in self.codes) or 'no codes'}")

    @property
    def categorical(self) -> list[Code]:
        return [c for c in self.codes if c.kind == "cat"]

    # ---------------------------------------------------------------- sampling
    def sample_noise(self, n: int, generator=None, device=None) -> torch.Tensor:
        if self.noise_prior == "uniform":
            return torch.rand(n, self.noise, generator=generator, device=device) * 2 - 1
        return torch.randn(n, self.noise, generator=generator, device=device)

    def sample_codes(self, n: int, generator=None, device=None) -> dict[str, torch.Tensor]:
        """Codes as values: long class indices (n,) for cat, floats (n,) for cont."""
        out = {}
        for c in self.codes:
            if c.kind == "cat":
                out[c.name] = torch.randint(c.size, (n,), generator=generator, device=device)
            elif c.prior == "uniform":
                out[c.name] = torch.rand(n, generator=generator, device=device) * 2 - 1
            else:
                out[c.name] = torch.randn(n, generator=generator, device=device)
        return out

    def sample(self, n: int, generator=None, device=None):
        """One batch: (z (n, noise), codes dict). Noise first, then codes, in spec order."""
        return self.sample_noise(n, generator, device), self.sample_codes(n, generator, device)

    def check_values(self, codes: dict) -> None:
        """Raise SpecError for unknown codes and out-of-range values."""
        for name, v in codes.items():
            c = self.code(name)
            try:
                t = torch.as_tensor(v)
            except (TypeError, ValueError, RuntimeError):
                raise SpecError(f"code {name!r}: {v!r} is not a number or a list of numbers") from None
            if t.is_complex() or t.dtype == torch.bool:
                raise SpecError(f"code {name!r}: {v!r} is not a number or a list of numbers")
            if c.kind == "cat":
                if t.is_floating_point() and not torch.all(t == t.round()):
                    raise SpecError(f"code {name!r} is categorical: give a class index 0..{c.size - 1}")
                bad = t[(t < 0) | (t >= c.size)]
                if bad.numel():  # (the first bad value: a traversal's would be a long list)
                    raise SpecError(f"code {name!r} takes class indices 0..{c.size - 1}, got {bad.flatten()[0].item():g}")
            else:
                bad = t[~(t.float().abs() <= CONT_VALUE_LIMIT)]  # NaN is bad too
                if bad.numel():
                    raise SpecError(f"code {name!r} takes values in [-{CONT_VALUE_LIMIT:g}, {CONT_VALUE_LIMIT:g}], "
                                    f"got {bad.flatten()[0].item():g}")

    def join(self, z: torch.Tensor, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        """G's input (n, dim): z then each code (one-hot for cat) in spec order."""
        parts = [z]
        for c in self.codes:
            v = codes[c.name]
            if c.kind == "cat":
                # one-hot by comparison: F.one_hot may check the indices' range on the host,
                # a device sync that a CUDA graph's capture does not allow
                parts.append((v.long()[:, None] == torch.arange(c.size, device=v.device)).to(z.dtype))
            else:
                parts.append(v.to(z.dtype).reshape(-1, 1))
        return torch.cat(parts, dim=1)

    @property
    def q_slices(self) -> dict[str, slice]:
        """Each code's columns of Q's raw head output, in spec order."""
        out, i = {}, 0
        for c in self.codes:
            out[c.name] = slice(i, i + c.q_outputs)
            i += c.q_outputs
        return out

    def split_q(self, q_out: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
        """Q's raw head output -> per code: (logits, None) for cat, (mean, raw_std or None) for cont."""
        out = {}
        for c, cols in zip(self.codes, self.q_slices.values()):
            part = q_out[:, cols]
            if c.kind == "cat":
                out[c.name] = (part, None)
            else:
                out[c.name] = (part[:, 0], part[:, 1] if c.learn_std else None)
        return out
