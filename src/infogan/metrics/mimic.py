"""Mimic mode measured (InfoCapsGAN; nets.caps.redraw): G redraws each held-out real image from
D's class capsules of it. How often Q reads the redrawing as the class it read in the original
(agreement), and the Frechet distance of the redrawings to the real images on the sample-quality
classifier's features (quality.py); mimic.png shows originals above their redrawings."""

from __future__ import annotations

from pathlib import Path

import torch

from ..model import to_model_range
from ..nets.caps import can_mimic, redraw
from ..nets.common import eval_mode
from .quality import features, frechet_distance, get_classifier
from .registry import Column, EvalContext, Metric

SHOWN = 16


@torch.no_grad()
def redrawings(model, images: torch.Tensor, seed: int = 0, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(redrawings in [0, 1], the classes Q read in the originals) for uint8 images, in eval mode."""
    out, classes = [], []
    with eval_mode(model):
        gen = torch.Generator().manual_seed(seed)
        for i in range(0, len(images), batch):
            x = to_model_range(images[i : i + batch]).to(model.device)
            z = model.spec.sample_noise(len(x), generator=gen).to(model.device)
            drawn, seen = redraw(model, x, z)
            out.append((drawn.float().cpu() + 1) / 2)
            classes.append(seen.cpu())
    return torch.cat(out), torch.cat(classes)


def mimic_metric(ctx: EvalContext) -> dict:
    drawn, seen = redrawings(ctx.model, ctx.images, ctx.seed)
    code = ctx.model.spec.categorical[0].name
    again = ctx.model.infer_codes(drawn)[code]
    net = get_classifier(ctx.dataset, *ctx.train_split())
    fd = frechet_distance(features(net, ctx.images)[0], features(net, drawn)[0])
    return {"agreement": float((again == seen).float().mean()), "frechet_distance": fd, "n_images": len(drawn)}


def pictures(result: dict, out_dir: Path, ctx: EvalContext) -> None:
    from ..viz import save_grid

    drawn, _ = redrawings(ctx.model, ctx.images[:SHOWN], ctx.seed)
    save_grid(torch.cat([ctx.images[:SHOWN].float() / 255, drawn]), Path(out_dir) / "mimic.png", SHOWN)


METRIC = Metric(
    name="mimic",
    help="InfoCapsGAN's mimic mode: how often Q reads G's redrawing of a real image as the class it read in "
         "the image, and the redrawings' Frechet distance",
    compute=mimic_metric,
    needs=frozenset({"labels", "train"}),
    applies=can_mimic,
    applies_to="models with a capsule G and a capsule D (the infocapsgan preset)",
    columns=(Column("mimic_agreement", "mimic agreement", lambda r: r["agreement"]),
             Column("mimic_frechet_distance", "redrawings' Frechet distance", lambda r: r["frechet_distance"])),
    lines=lambda r: [f"mimic: Q reads {r['agreement']:.1%} of redrawings as the original's class; their Frechet "
                     f"distance {r['frechet_distance']:.2f}"],
    pictures=pictures,
)
