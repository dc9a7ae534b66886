"""Where do a weak seed's misplaced 7s come from: G's drawings, or Q's reading of real images?

    python benchmarks/generator_modes.py RUN [RUN ...] [--data-dir DIR] [--per-class 6000] [--sevens-of RUN]

The default's weak MNIST seeds put 60-140 of the test set's 7s in the 2's (or 9's) category
(docs/studies/mnist.md: "Levers tried against the weak seeds"). Two stories fit that: G's category draws
those 7s too, so Q, which learns its classes from G's drawings, is right to read them so; or
G's categories are clean and only Q's reading of the real images strays. Per run this prints:

- for each of G's categories, what infogan's supervised feature classifier (the one behind the
  Frechet distance, trained with labels) calls its drawings, and how often Q reads back the
  code it was drawn with;
- for the test 7s Q misplaces and for those it places right: how far (in that classifier's
  features) the nearest of G's drawings is, and which category drew their 10 nearest drawings,
  which tells a style G does not draw (far) from one it draws in the wrong category (near);
  with --sevens-of, the same for the test 7s that run's Q misplaces (a good run's G drawing, or
  not, the style a failing run misplaced);
- the same in pixels (each image's ink scaled to unit length, no classifier): the share of the
  misplaced and of the placed 7s whose 10 nearest drawings mostly carry the 7s' code, and the
  test accuracy of Q's probabilities times those 10 drawings' code frequencies to a power beta
  (a label-free repair after training; beta 0 is Q);
- a fresh classifier (that feature classifier's network, 2 epochs) trained on G's drawings
  alone, with the code they were drawn with as the label, scored on the real test images as Q
  is, and how many 7s each puts outside the 7s' class.

A diagnosis of finished runs, not a recipe: the labels here score and describe, they choose
nothing. CPU; about two minutes a run on 2 threads.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from infogan import InfoGAN, data
from infogan.metrics.clustering import cluster_scores
from infogan.metrics.quality import features, get_classifier, train_classifier
from infogan.refine import nearest_votes


def share(hits) -> float | None:
    """The fraction of true entries, None for none at all."""
    return round(float(np.asarray(hits).mean()), 4) if np.asarray(hits).size else None


def scored(pred: np.ndarray, labels: np.ndarray, k: int) -> tuple[dict, dict[int, int], int]:
    """(cluster_scores, the match class -> digit with int keys, the class matched to the 7s)."""
    s = cluster_scores(pred, labels, k)
    match = {int(p): t for p, t in s["match"].items()}
    return s, match, {t: c for c, t in match.items()}[7]


def sevens_outside(pred: np.ndarray, labels: np.ndarray, k: int) -> tuple[float, int, int | None]:
    """(accuracy, 7s outside the 7s' matched class, the class that holds most of them)."""
    s, _, seven = scored(pred, labels, k)
    strays = pred[(labels == 7) & (pred != seven)]
    host = int(np.bincount(strays, minlength=k).argmax()) if len(strays) else None
    return s["accuracy"], int(len(strays)), host


def misplaced_sevens(run: str, x_test, y_test) -> np.ndarray:
    """A boolean mask over the test set: the 7s this run's Q puts outside the 7s' class."""
    model = InfoGAN.from_pretrained(run)
    pred = model.infer_codes(x_test)[model.spec.categorical[0].name].numpy()
    labels = y_test.numpy()
    seven = scored(pred, labels, model.spec.categorical[0].size)[2]
    return (labels == 7) & (pred != seven)


def pixel_neighbours(p_q: torch.Tensor, x_test, labels, fakes, drawn_with, seven, misplaced, k=10,
                     betas=(0.5, 1.0, 2.0)) -> dict:
    classes = int(drawn_with.max()) + 1
    votes = nearest_votes(x_test, fakes, drawn_with, classes, k).double()
    majority = votes.argmax(1).numpy()
    sevens = labels == 7
    repaired = {f"beta_{b}": round(cluster_scores((p_q.clamp_min(1e-12).log() + b * (votes + 0.01).log()).argmax(1).numpy(),
                                                  labels, classes)["accuracy"], 4) for b in betas}
    return {"accuracy_of_the_10_nearest_drawings_vote": round(cluster_scores(majority, labels, classes)["accuracy"], 4),
            "misplaced_sevens_voted_7": share(majority[misplaced] == seven),
            "placed_sevens_voted_7": share(majority[sevens & ~misplaced] == seven),
            "q_times_votes_accuracy": repaired}


def probe(run: str, oracle, x_test, y_test, per_class: int, seed: int, reference: np.ndarray | None = None) -> dict:
    model = InfoGAN.from_pretrained(run)
    code = model.spec.categorical[0]
    k = code.size
    labels = y_test.numpy()
    p_test = model.infer_codes(x_test, probs=True)[code.name].double()
    q_test = p_test.argmax(1).numpy()
    q_acc, q_out, host = sevens_outside(q_test, labels, k)
    _, match, seven = scored(q_test, labels, k)  # Q's class -> digit

    images, drawn_with = [], []
    for c in range(k):
        images.append(model.generate(per_class, codes={code.name: c}, seed=seed + c))
        drawn_with.append(torch.full((per_class,), c, dtype=torch.long))
    fakes, drawn_with = torch.cat(images), torch.cat(drawn_with)
    fake_features, oracle_probs = features(oracle, fakes)
    oracle_digit = oracle_probs.argmax(1)
    q_back = model.infer_codes(fakes)[code.name].numpy()
    categories = []
    for c in range(k):
        rows = drawn_with.numpy() == c
        counts = np.bincount(oracle_digit[rows], minlength=10) / rows.sum()
        categories.append({"category": c, "q_reads_as_digit": match.get(c),
                           "oracle_digits": {d: round(float(v), 4) for d, v in enumerate(counts) if v >= 0.005},
                           "q_reads_back_its_code": round(float((q_back[rows] == c).mean()), 4)})

    sevens = labels == 7
    real_features, _ = features(oracle, x_test[torch.from_numpy(sevens)])
    dist = torch.cdist(torch.from_numpy(real_features), torch.from_numpy(fake_features))
    near_d, near_i = dist.topk(10, largest=False)
    near_category = drawn_with.numpy()[near_i.numpy()]
    strays = q_test[sevens] != seven

    def coverage(rows) -> dict:
        if not rows.any():
            return {"count": 0}
        return {"count": int(rows.sum()), "median_distance_to_nearest_drawing": round(float(near_d[rows, 0].median()), 3),
                "their_10_nearest_drawn_as_7": share(near_category[rows] == seven),
                "their_10_nearest_drawn_by_the_host": share(near_category[rows] == host) if host is not None else None}

    extra = {"pixels": pixel_neighbours(p_test, x_test, labels, fakes, drawn_with, seven,
                                        (labels == 7) & (q_test != seven))}
    if reference is not None:
        extra["reference_misplaced_sevens"] = coverage(torch.from_numpy(reference[sevens]))

    fresh = train_classifier(fakes, drawn_with, epochs=2, seed=seed)
    _, fresh_probs = features(fresh, x_test)
    f_acc, f_out, f_host = sevens_outside(fresh_probs.argmax(1), labels, k)
    return {"run": run, "q_accuracy": q_acc, "q_sevens_outside": q_out, "q_host_of_strays": host,
            "host_category_drawings_oracle_sevens": categories[host]["oracle_digits"].get(7, 0.0) if host is not None else None,
            "misplaced_sevens": coverage(torch.from_numpy(strays)),
            "placed_sevens": coverage(torch.from_numpy(~strays)),
            **extra,
            "fresh_on_fakes_accuracy": f_acc, "fresh_on_fakes_sevens_outside": f_out, "fresh_host_of_strays": f_host,
            "categories": categories}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--data-dir")
    p.add_argument("--per-class", type=int, default=6000, help="G's drawings per category")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sevens-of", metavar="RUN", help="also probe the test 7s this run's Q misplaces")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    x_train, y_train = data.load("mnist", "train", args.data_dir)
    x_test, y_test = data.load("mnist", "test", args.data_dir)
    oracle = get_classifier("mnist", x_train, y_train)
    reference = misplaced_sevens(args.sevens_of, x_test, y_test) if args.sevens_of else None
    for run in args.runs:
        print(json.dumps(probe(run, oracle, x_test, y_test, args.per_class, args.seed, reference)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
