"""SCAN's clustering step as published, on a finished run's frozen trunk: fresh heads, chosen without labels.

    python benchmarks/fresh_heads_probe.py RUN [RUN ...] [--dataset fashion-mnist] [--data-dir DIR]
        [--kinds mlp,q,linear] [--heads 5] [--steps 3000] [--entropy 5]

The neighbour stage (src/infogan/neighbours.py, benchmarks/neighbour_probe.py) trains Q's head
from where it ended, so it keeps most of Q's categories: on Fashion-MNIST it gained 0-1.7
points. SCAN (Van Gansbeke et al. 2020) starts its clustering heads from scratch, trains
several at once with the entropy weight 5, and keeps the one of lowest loss. This probe does
that on D's trunk features (eval mode, frozen) of the training images, each image paired with
one of its 20 nearest training images (cosine), the loss
    -log <p(x), p(n)>  -  entropy * H(mean of p(x))
over `steps` steps of `batch` pairs (Adam, lr 1e-3, weight decay 1e-4), for each head kind:

- mlp: FC512-BN-ReLU-FC k (SCAN's heads read a backbone's features; 512 wide here);
- q: Q's own head (FC128-BN-lReLU-FC q_dim) with every layer drawn again, its continuous codes'
  outputs held where Q had them (squared change, as --neighbour-steps does): the one kind that
  could replace Q's head in a saved model;
- linear: BN-FC k.

Each kind's `heads` heads share the pairs; the one whose loss over 20,000 fixed pairs (eval
mode) is lowest is chosen, without labels. Prints one JSON object per run: Q's test accuracy,
and per kind every head's loss and test accuracy and the chosen one's. The labels only score.
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch
import torch.nn.functional as F

from infogan import InfoGAN, data
from infogan.metrics.clustering import cluster_scores
from infogan.neighbours import neighbour_loss, neighbour_pairs
from infogan.refine import cosine_nearest, other_columns, trunk_and_q


def redrawn(q_head: torch.nn.Module) -> torch.nn.Module:
    """A copy of Q's head with every layer's parameters drawn again."""
    head = copy.deepcopy(q_head)
    for m in head.modules():
        if m is not head and hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return head.requires_grad_(True).train()


# each head kind from (trunk width, classes, Q's head)
HEADS = {
    "mlp": lambda width, classes, q_head: torch.nn.Sequential(
        torch.nn.Linear(width, 512), torch.nn.BatchNorm1d(512), torch.nn.ReLU(), torch.nn.Linear(512, classes)),
    "q": lambda width, classes, q_head: redrawn(q_head),
    "linear": lambda width, classes, q_head: torch.nn.Sequential(
        torch.nn.BatchNorm1d(width), torch.nn.Linear(width, classes)),
}


def head_kinds(text: str) -> list[str]:
    """--kinds, checked before any feature is computed."""
    kinds = text.split(",")
    if unknown := [k for k in kinds if k not in HEADS]:
        raise argparse.ArgumentTypeError(f"unknown head kind {unknown[0]!r} (known: {', '.join(HEADS)})")
    return kinds


def scan_loss(head, fa: torch.Tensor, fn: torch.Tensor, entropy: float, cat: slice) -> torch.Tensor:
    return neighbour_loss(*head(torch.cat([fa, fn]))[:, cat].softmax(1).chunk(2), entropy)


def train_heads(kind: str, feats, near, classes: int, cat: slice, q_head, q_before, args) -> tuple[list, list[float]]:
    """`args.heads` fresh heads of one kind trained on the same pairs; (heads, each one's loss on
    20,000 fixed pairs in eval mode), the label-free score that chooses one."""
    g = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    heads = [HEADS[kind](feats.shape[1], classes, q_head) for _ in range(args.heads)]
    opts = [torch.optim.Adam(h.parameters(), lr=args.lr, weight_decay=1e-4) for h in heads]
    keep = other_columns(q_before.shape[1], cat) if kind == "q" else torch.zeros(0, dtype=torch.bool)
    for _ in range(args.steps):
        idx, pick = neighbour_pairs(near, args.batch, g)
        for head, opt in zip(heads, opts):
            loss = scan_loss(head, feats[idx], feats[pick], args.entropy, cat)
            if keep.any():
                loss = loss + F.mse_loss(head(feats[idx])[:, keep], q_before[idx][:, keep])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    idx, pick = neighbour_pairs(near, 20000, torch.Generator().manual_seed(1))
    with torch.no_grad():
        losses = [scan_loss(h.eval(), feats[idx], feats[pick], args.entropy, cat).item() for h in heads]
    return heads, losses


def probe(run: str, x_train, x_test, y_test, args) -> dict:
    t0 = time.time()
    model = InfoGAN.from_pretrained(run)
    code = model.spec.categorical[0]
    k, cols = code.size, model.spec.q_slices[code.name]
    feats, q_train = trunk_and_q(model.D, x_train)
    test_feats, q_test = trunk_and_q(model.D, x_test)
    near = cosine_nearest(feats, feats, args.neighbours, exclude_self=True)
    row = {"run": run, "steps": args.steps, "heads": args.heads, "entropy": args.entropy, "batch": args.batch,
           "q_accuracy": cluster_scores(q_test[:, cols].argmax(1).numpy(), y_test.numpy(), k)["accuracy"]}
    for kind in args.kinds:
        cat = cols if kind == "q" else slice(None)
        heads, losses = train_heads(kind, feats, near, k, cat, model.D.q_head, q_train, args)
        with torch.no_grad():
            accs = [cluster_scores(h(test_feats)[:, cat].argmax(1).numpy(), y_test.numpy(), k)["accuracy"]
                    for h in heads]
        chosen = min(range(len(heads)), key=losses.__getitem__)
        row[kind] = {"head_losses": [round(v, 4) for v in losses], "head_accuracies": accs, "chosen_head": chosen,
                     "chosen_accuracy": accs[chosen], "seconds": round(time.time() - t0, 1)}
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--data-dir")
    p.add_argument("--kinds", type=head_kinds, default="mlp,q", help="head kinds, comma-separated: mlp, q, linear")
    p.add_argument("--heads", type=int, default=5)
    p.add_argument("--neighbours", type=int, default=20)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--entropy", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    x_train, _ = data.load(args.dataset, "train", args.data_dir)
    x_test, y_test = data.load(args.dataset, "test", args.data_dir)
    for run in args.runs:
        print(json.dumps(probe(run, x_train, x_test, y_test, args)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
