"""Do D's features know more than Q's categories? A label-free neighbour stage, probed after training.

    python benchmarks/neighbour_probe.py RUN [RUN ...] [--dataset fashion-mnist] [--data-dir DIR]

On Fashion-MNIST Q files the tops (pullovers, coats, shirts) together and the bags in two
categories at weak seeds (docs/studies/fashion-mnist.md). Clustering methods that trust
neighbourhoods (SCAN, Van Gansbeke et al. 2020) train a classifier so that each image and its
nearest neighbours in a learned feature space agree, with an entropy term that keeps the
classes in use. This probe measures, on finished runs and without retraining:

- how often an image's k nearest training images (cosine of D's trunk features, eval mode)
  share its class, overall and per class (the labels only score: how much the neighbours can
  teach the stage, and which classes they mix);
- Q's test accuracy after a short stage that trains Q's head (trunk frozen) from where it
  ended, with the loss  -log <p(x), p(n)> - entropy_weight * H(mean p)  over pairs of a
  training image x and one of its neighbours n (lr 1e-3, 3000 steps of 256 pairs; a copy of
  the whole D trained the same way at 1e-4 gained no more at seed 0 in 1000 steps);
- the clusters the features hold themselves (k-means on the L2-normalised trunk features of
  the training images) and what a labelled reader of the same features gets (20 nearest
  training images vote with their labels), overall and per class: how far a re-reading of D's
  features could go.

The stage became a flag, `--neighbour-steps` (src/infogan/neighbours.py), which also holds the
continuous codes' outputs; this probe keeps its own loop (with the flag's loss and pairs,
neighbours.neighbour_loss and neighbour_pairs) so that the rows it recorded stay
reproducible (`benchmarks/refine_runs.py --stage neighbours` measures the flag).

Prints one JSON object per run. The test labels only score. One caveat: the stage's defaults
(lr, length, starting from Q's head) were picked among four variants by one run's test accuracy
(Fashion-MNIST bf16 seed 0, 2026-12-06), so that run's figure is not clean; the others in
docs/levers/fashion-neighbour-probe-zen4-bf16.jsonl were measured with them fixed.
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans

from infogan import InfoGAN, data
from infogan.metrics.clustering import cluster_scores
from infogan.model import to_model_range
from infogan.neighbours import neighbour_loss, neighbour_pairs
from infogan.nets.common import eval_mode
from infogan.refine import cosine_nearest, nearest_votes


@torch.no_grad()
def trunk_features(D, images: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    with eval_mode(D):
        return torch.cat([D.trunk(to_model_range(images[i:i + batch])) for i in range(0, len(images), batch)])


def cat_logits(q_head, h: torch.Tensor, cols: slice) -> torch.Tensor:
    return q_head(h)[:, cols]


def neighbour_stage(D, feats: torch.Tensor, near: torch.Tensor, cols: slice, steps: int, batch: int,
                    lr: float, entropy_weight: float, seed: int) -> torch.nn.Module:
    """A copy of Q's head trained so that each image agrees with a random one of its neighbours."""
    head = copy.deepcopy(D.q_head).train()
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx, pick = neighbour_pairs(near, batch, g)
        p = cat_logits(head, torch.cat([feats[idx], feats[pick]]), cols).softmax(1)
        loss = neighbour_loss(*p.chunk(2), entropy_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return head.eval()


def per_class(values: torch.Tensor, labels: torch.Tensor, classes: int) -> list[float]:
    """The mean of values over each class's images (a class without images: 0)."""
    sums = torch.zeros(classes).index_add_(0, labels, values)
    return [round(v, 4) for v in (sums / torch.bincount(labels, minlength=classes).clamp(min=1)).tolist()]


def probe(run: str, x_train, y_train, x_test, y_test, args) -> dict:
    t0 = time.time()
    model = InfoGAN.from_pretrained(run)  # a run folder (its model/) or a model folder
    code = model.spec.categorical[0]
    cols = model.spec.q_slices[code.name]
    k = code.size
    feats, test_feats = trunk_features(model.D, x_train), trunk_features(model.D, x_test)
    near = cosine_nearest(feats, feats, args.neighbours, exclude_self=True)
    same = (y_train[near] == y_train[:, None]).float().mean(1)  # per training image
    purity = same.mean().item()
    classes = int(y_train.max()) + 1
    with torch.no_grad(), eval_mode(model.D):
        before = cat_logits(model.D.q_head, test_feats, cols).argmax(1)
    row = {"run": run, "neighbours": args.neighbours, "neighbour_purity": round(purity, 4),
           "neighbour_purity_by_class": per_class(same, y_train, classes),
           "q_accuracy": cluster_scores(before.numpy(), y_test.numpy(), k)["accuracy"]}
    for w in args.entropy_weights:
        head = neighbour_stage(model.D, feats, near, cols, args.steps, args.batch, args.lr, w, args.seed)
        with torch.no_grad():
            after = cat_logits(head, test_feats, cols).argmax(1)
        row[f"after_entropy{w:g}"] = cluster_scores(after.numpy(), y_test.numpy(), k)["accuracy"]
        row[f"moved_entropy{w:g}"] = int((after != before).sum())
    # The features' own clusters: k-means on the L2-normalised trunk features (lowest inertia of 3 restarts).
    km = KMeans(k, n_init=3, random_state=0).fit(F.normalize(feats, dim=1).numpy())
    row["kmeans_trunk_accuracy"] = cluster_scores(km.predict(F.normalize(test_feats, dim=1).numpy()), y_test.numpy(), k)["accuracy"]
    # What a labelled reader of the same features would get: each test image's 20 nearest training
    # images vote (by cosine, which nearest_votes's /255 for uint8 images leaves as it is).
    votes = nearest_votes(test_feats, feats, y_train, classes, 20).argmax(1)
    row["knn20_labelled_accuracy"] = round((votes == y_test).float().mean().item(), 4)
    row["knn20_labelled_by_class"] = per_class((votes == y_test).float(), y_test, classes)
    row["seconds"] = round(time.time() - t0, 1)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--data-dir")
    p.add_argument("--neighbours", type=int, default=20)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--entropy-weights", type=float, nargs="+", default=[1.0, 2.0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    x_train, y_train = data.load(args.dataset, "train", args.data_dir)
    x_test, y_test = data.load(args.dataset, "test", args.data_dir)
    for run in args.runs:
        print(json.dumps(probe(run, x_train, y_train, x_test, y_test, args)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
