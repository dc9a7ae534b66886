"""Label-free repairs of a trained model's categorical code, probed after training.

    python benchmarks/weak_seed_probes.py RUN [RUN ...] [--data-dir DIR] [--threads 2]

The default's weak MNIST seeds file 13% of the 7s with the 2s (docs/studies/mnist.md: "Levers tried against
the weak seeds"). Two repairs need no retraining and no labels, so they are cheap to probe on
finished runs before anything is built into training:

- prior matching: add a bias to Q's log-probabilities so that their mean over the training
  images is the code's uniform prior (the categorical code is drawn from Cat(1/K), so a G that
  matches the data makes Q's average reading uniform);
- neighbour votes: each test image takes the class most of its k nearest training images
  (pixel space) get from Q, as clustering methods that trust neighbourhoods do.

Prints one JSON object per run: the test accuracy as trained and after each repair, how Q
reads the 7s it misplaces (confidence, probability of the 7s' own class) and how many of their
nearest training images Q puts in the 7s' class. The test labels only score (and, for the
diagnostics, find the misplaced 7s); nothing is chosen with them.
"""

from __future__ import annotations

import argparse
import json

import torch

from infogan import InfoGAN, data
from infogan.metrics.clustering import cluster_scores


def prior_bias(log_probs: torch.Tensor, iterations: int = 200) -> torch.Tensor:
    """The bias b (K,) for which mean softmax(log_probs + b) over the rows is uniform."""
    k = log_probs.shape[1]
    b = torch.zeros(k, dtype=log_probs.dtype)
    for _ in range(iterations):
        b = b - torch.log((log_probs + b).softmax(1).mean(0) * k)
    return b


def nearest(queries: torch.Tensor, pool: torch.Tensor, k: int, chunk: int = 1000) -> torch.Tensor:
    """Indices (Q, k) of each query's k nearest pool rows (Euclidean)."""
    return torch.cat([torch.cdist(queries[i:i + chunk], pool).topk(k, largest=False).indices
                      for i in range(0, len(queries), chunk)])


def neighbour_vote(own_probs: torch.Tensor, neighbour_classes: torch.Tensor, k_classes: int) -> torch.Tensor:
    """Each row's class by its neighbours' votes (its own probabilities break ties)."""
    return (torch.nn.functional.one_hot(neighbour_classes, k_classes).sum(1) + own_probs).argmax(1)


def probe(run: str, x_train, x_test, y_test, neighbours: torch.Tensor) -> dict:
    """neighbours: (N_test, k) indices of each test image's nearest training images."""
    k = neighbours.shape[1]
    model = InfoGAN.from_pretrained(run)
    code = model.spec.categorical[0].name
    with torch.no_grad():
        p_train = model.infer_codes(x_train, probs=True)[code].double()
        p_test = model.infer_codes(x_test, probs=True)[code].double()
    classes = p_train.shape[1]
    labels = y_test.numpy()

    def accuracy(pred):
        return cluster_scores(pred.numpy(), labels, classes)["accuracy"]

    log_train, log_test = p_train.clamp_min(1e-12).log(), p_test.clamp_min(1e-12).log()
    trained = p_test.argmax(1)
    scores = cluster_scores(trained.numpy(), labels, classes)
    seven = {t: int(p) for p, t in scores["match"].items()}[7]
    misplaced = (y_test == 7) & (trained != seven)
    train_class = p_train.argmax(1)
    return {
        "run": run,
        "accuracy": scores["accuracy"],
        "accuracy_prior_matched": accuracy((log_test + prior_bias(log_train)).argmax(1)),
        f"accuracy_{k}_neighbour_vote": accuracy(neighbour_vote(p_test, train_class[neighbours], classes)),
        "misplaced_sevens": int(misplaced.sum()),
        "their_mean_confidence": round(p_test[misplaced].max(1).values.mean().item(), 4),
        "their_mean_probability_of_the_sevens_class": round(p_test[misplaced][:, seven].mean().item(), 4),
        f"their_{k}_neighbours_in_the_sevens_class": round((train_class[neighbours[misplaced]] == seven)
                                                           .double().mean().item(), 4),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--data-dir")
    p.add_argument("--neighbours", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    x_train, _ = data.load(args.dataset, "train", args.data_dir)
    x_test, y_test = data.load(args.dataset, "test", args.data_dir)
    neighbours = nearest(x_test.flatten(1).float() / 255, x_train.flatten(1).float() / 255, args.neighbours)
    for run in args.runs:
        print(json.dumps(probe(run, x_train, x_test, y_test, neighbours)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
