"""The per-code MI lower bound H(c) - E[-log Q(c | G(z, c))], estimated on fresh samples."""

from __future__ import annotations

import torch

from ..losses import code_nll
from ..nets.common import eval_mode
from .registry import Column, Metric


@torch.no_grad()
def mi_lower_bounds(model, n: int = 10000, batch_size: int = 500, seed: int = 0) -> dict[str, dict]:
    """Per code: bound (nats), entropy H(c), fraction of H(c), and for continuous codes the
    correlation and R^2 between the code given to G and Q's mean on G's image."""
    spec = model.spec
    gen = torch.Generator().manual_seed(seed)
    nll_sum = {c.name: 0.0 for c in spec.codes}
    given = {c.name: [] for c in spec.codes if c.kind == "cont"}
    recovered = {c.name: [] for c in spec.codes if c.kind == "cont"}
    dev = model.device
    with eval_mode(model):
        done = 0
        while done < n:
            b = min(batch_size, n - done)
            z, codes = spec.sample(b, generator=gen)
            codes = {k: v.to(dev) for k, v in codes.items()}
            _, q = model.D(model(z.to(dev), codes))
            for name, v in code_nll(spec, q, codes).items():
                nll_sum[name] += float(v) * b
            for code, (mean, _) in zip(spec.codes, spec.split_q(q.float()).values()):
                if code.kind == "cont":
                    given[code.name].append(codes[code.name].float().cpu())
                    recovered[code.name].append(mean.cpu())
            done += b
    out = {}
    for code in spec.codes:
        bound = code.entropy - nll_sum[code.name] / n
        row = {"kind": code.kind, "mi_lower_bound": bound, "entropy": code.entropy,
               "fraction": bound / code.entropy if code.entropy > 0 else float("nan")}
        if code.kind == "cont":
            c, m = torch.cat(given[code.name]), torch.cat(recovered[code.name])
            corr = torch.corrcoef(torch.stack([c, m]))[0, 1].item()
            r2 = 1 - ((c - m) ** 2).sum().item() / ((c - c.mean()) ** 2).sum().item()
            row.update(correlation=corr, r2=r2)
        out[code.name] = row
    return out


def lines(result: dict) -> list[str]:
    out = [f"{'code':<8}{'MI bound':>10}{'H(c)':>8}{'frac':>7}{'R^2':>7}"]
    for name, r in result.items():
        r2 = f"{r['r2']:.3f}" if "r2" in r else "-"
        out.append(f"{name:<8}{r['mi_lower_bound']:>10.3f}{r['entropy']:>8.3f}{r['fraction']:>7.2f}{r2:>7}")
    return out


def first_categorical_fraction(result: dict) -> float | None:
    return next((r["fraction"] for r in result.values() if r["kind"] == "cat"), None)


METRIC = Metric(
    name="information",
    help="each code's MI lower bound H(c) - E[-log Q(c|G(z,c))] on generated samples (nats, and as a "
         "fraction of H(c)); for continuous codes, R^2 and correlation of Q's mean with the code",
    compute=lambda ctx: mi_lower_bounds(ctx.model, n=ctx.n_samples, seed=ctx.seed),
    columns=(Column("mi_fraction", "MI / H(c)", first_categorical_fraction),),
    lines=lines,
)
