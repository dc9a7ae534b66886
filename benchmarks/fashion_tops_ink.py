"""What Fashion-MNIST's categories sort the tops by: each category's classes and mean ink.

    python benchmarks/fashion_tops_ink.py RUN [RUN ...] [--data-dir DIR] [--pictures DIR]

Without --brightness the categories that hold the tops (pullovers, coats, shirts) split each
of these classes by how bright the garment is (docs/studies/fashion-mnist.md: "--brightness"). This prints, per run,
each category's test images: how many, their three commonest classes, and their mean ink (a
garment's mean pixel value over its nonzero pixels, 0-1), then the mean ink of the categories
whose commonest class is a top, and of each top class for comparison, and how many of the tops
keep their category when every image's ink is scaled to one mean (tops_kept_at_even_ink: near 1
says the categories' dark and bright tops differ by more than a brightness gain). The test
labels only describe the categories; nothing is chosen with them. --pictures writes, per run,
DIR/<run>-tops.png: a row of each tops category's first 16 test tops (3x), to see what sorts them.
A model with more categorical codes (--latent z62,cat10,cat2,cont2) also gets, for each of the
others, the share of each class's test images and of each category's at each of its values
(other_codes): does the extra code hold a split of its own, and do the categories nest in it?

    python benchmarks/fashion_tops_ink.py --summary OUT.jsonl [OUT.jsonl ...]

reads what earlier calls printed and gives one line per run: how its categories are spent on the
tops (how many categories, their mean ink) and on the bags (how many images each holds), and its
purity (each category read as its commonest class).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from infogan import InfoGAN, data
from infogan.metrics.clustering import contingency

CLASSES = data.DATASETS["fashion-mnist"].classes
TOPS = ("Pullover", "Coat", "Shirt")


def mean_ink(images: torch.Tensor) -> torch.Tensor:
    """(N,) each uint8 image's mean pixel value over its nonzero pixels, in 0-1."""
    v = images.float() / 255
    return v.sum((1, 2, 3)) / (v > 0).float().sum((1, 2, 3)).clamp(min=1)


EVEN_INK = 0.55  # even_ink's target: about the training images' mean ink (0.57)


def even_ink(images: torch.Tensor, target: float = EVEN_INK) -> torch.Tensor:
    """uint8 images with each one's ink scaled by one gain to the mean `target` over its
    nonzero pixels (clipped at white): every garment at one brightness."""
    gain = target / mean_ink(images).clamp(min=1e-3)
    return (images.float() * gain.view(-1, 1, 1, 1)).clamp(0, 255).round().to(torch.uint8)


def categories_of(model: InfoGAN, images: torch.Tensor) -> list[torch.Tensor]:
    """Each categorical code's most likely value for every image, in the spec's order (one pass of Q);
    the first code's are the run's categories."""
    with torch.no_grad():
        probs = model.infer_codes(images, probs=True)
    return [probs[code.name].argmax(1) for code in model.spec.categorical]


def value_shares(values: torch.Tensor, groups: torch.Tensor, n_groups: int, n_values: int) -> list[list[float]]:
    """For each group, the share of its images at each value of another code."""
    counts = contingency(values.numpy(), groups.numpy(), n_values, n_groups)  # counts[group, value]
    return [[round(float(v), 3) for v in row] for row in counts / np.maximum(counts.sum(1, keepdims=True), 1)]


def other_codes(model: InfoGAN, codes: list[torch.Tensor], labels: torch.Tensor) -> dict:
    """Each categorical code after the first (codes: categories_of's): its values' shares per class
    and per category."""
    out = {}
    for code, values in zip(model.spec.categorical[1:], codes[1:]):
        out[code.name] = {"by_class": dict(zip(CLASSES, value_shares(values, labels, len(CLASSES), code.size))),
                          "by_category": value_shares(values, codes[0], model.spec.categorical[0].size, code.size)}
    return out


def save_tops_picture(path: Path, images: torch.Tensor, category: torch.Tensor, is_top: torch.Tensor,
                      tops_categories: list[int]) -> None:
    from torchvision.utils import save_image

    if not tops_categories:
        return
    rows = [images[((category == k) & is_top).nonzero().squeeze(1)[:16]] for k in tops_categories]
    x = torch.cat([F.pad(r.float() / 255, (0, 0, 0, 0, 0, 0, 0, 16 - len(r))) for r in rows])
    save_image(F.interpolate(x, scale_factor=3), str(path), nrow=16, padding=2)


def categories(model: InfoGAN, category: torch.Tensor, labels: torch.Tensor, ink: torch.Tensor) -> list[dict]:
    out = []
    for k in range(model.spec.categorical[0].size):
        held = category == k
        counts = torch.bincount(labels[held], minlength=len(CLASSES))
        out.append({"category": k, "images": int(held.sum()), "mean_ink": round(float(ink[held].mean()), 3),
                    "classes": {CLASSES[t]: int(counts[t]) for t in counts.argsort(descending=True)[:3].tolist()}})
    return out


def spending(record: dict) -> dict:
    """A run's categories as the tops and the bags spend them (from one printed run record)."""
    def commonest(d):
        return next(iter(d["classes"]))

    cats = record["categories"]
    # each category read as its commonest class (many categories may read as one class): the
    # share of images so read correctly, an upper bound for any one-to-one matching
    purity = sum(d["classes"][commonest(d)] for d in cats) / sum(d["images"] for d in cats)
    return {"run": record["run"], "categories": len(cats), "purity": round(purity, 4),
            "tops_categories": len(record["tops_categories_mean_ink"]),
            "tops_mean_ink": record["tops_categories_mean_ink"],
            "bag_categories": [d["classes"]["Bag"] for d in cats if commonest(d) == "Bag"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders, or with --summary this script's earlier output")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--summary", action="store_true", help="summarise earlier output (JSON lines files)")
    parser.add_argument("--pictures", default=None, help="folder for each run's picture of its tops categories")
    args = parser.parse_args()
    if args.summary:
        for path in args.runs:
            with open(path) as f:
                for line in f:
                    record = json.loads(line)
                    if "run" in record:
                        print(json.dumps({"file": path, **spending(record)}))
        return
    images, labels = data.load("fashion-mnist", "test", args.data_dir, allow_download=False)
    ink = mean_ink(images)
    print(json.dumps({"class_mean_ink": {c: round(float(ink[labels == t].mean()), 3) for t, c in enumerate(CLASSES)
                                         if c in TOPS}}))
    is_top = torch.tensor([c in TOPS for c in CLASSES])[labels]
    evened = even_ink(images)  # the same for every run
    for run in args.runs:
        model = InfoGAN.from_pretrained(run)
        codes = categories_of(model, images)
        category = codes[0]
        kept = (categories_of(model, evened)[0] == category)[is_top].float().mean()
        cats = categories(model, category, labels, ink)
        tops = sorted((d["mean_ink"], d["category"]) for d in cats if next(iter(d["classes"])) in TOPS)  # darkest first
        if args.pictures:
            Path(args.pictures).mkdir(parents=True, exist_ok=True)
            save_tops_picture(Path(args.pictures) / f"{Path(run).name}-tops.png", images, category, is_top,
                              [k for _, k in tops])
        row = {"run": run, "tops_categories_mean_ink": [i for i, _ in tops],
               "tops_kept_at_even_ink": round(float(kept), 4), "categories": cats}
        if len(model.spec.categorical) > 1:
            row["other_codes"] = other_codes(model, codes, labels)
        print(json.dumps(row))


if __name__ == "__main__":
    main()
