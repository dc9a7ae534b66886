"""Relabelling by the drawings: a label-free last stage that moves whole groups of real images
to the category whose drawings they resemble, and teaches Q's head the move.

Why: on about a third of MNIST seeds the default run ends near 0.975 instead of 0.987, and
the lost point is nearly always one group, the crossed 7s, read as 2s with confidence
(docs/studies/mnist.md, "Where the trap is"). G draws no crossed 7s in any run, so Q's reading of them is its trunk's
extension beyond the drawings, and which class that extension reaches is a coin toss of the
seed. Two facts make the group recoverable without labels: Q's trunk features gather the
crossed 7s into a group of their own (k-means finds it), and in pixel space the drawings
nearest to them are mostly 7s (their bar and diagonal are a 7's), while Q's own reading came
through the trunk. A single image's pixel neighbours are a weak vote (Q times that vote lowers
accuracy, docs/levers/generator-modes.json); a group's mean vote is a strong one.

How, for the first categorical code:
1. k-means (scikit-learn, a fixed seed) of the training images' trunk features, scaled to
   unit length and cut to their first `dims` principal components, into `groups` groups.
2. G draws `per_code` images of each category; each real image's `neighbours` nearest
   drawings (cosine distance of the pixels) vote for the categories that drew them.
3. A group whose mean vote for some category beats its vote for Q's class of the group (the
   category of its summed probabilities) by more than `margin` takes that category.
4. Q's head is trained on the trunk features: toward the new category for the moved images,
   toward its own probabilities for every other one, and with its other codes' outputs held
   where they were. The trunk, D's real/fake head and G are untouched, so the samples and
   their Frechet distance do not change.

Everything is deterministic for a seed and a thread count; the report (refine.json in the run
folder) names each moved group, its size and both votes, and refine.png shows them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .model import InfoGAN, to_model_range
from .nets.common import eval_mode, requiring_grad


@dataclass(frozen=True)
class Refinement:
    groups: int = 50
    margin: float = 0.2
    dims: int = 64
    neighbours: int = 10
    per_code: int = 1000
    epochs: int = 3
    batch_size: int = 256
    lr: float = 1e-3


def trunk_and_q(D: torch.nn.Module, images: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """(trunk features (N, F), Q's raw outputs (N, q_dim)) of uint8 images, in eval mode, on the CPU."""
    device = next(D.parameters()).device
    feats, qs = [], []
    with eval_mode(D), torch.no_grad():
        for i in range(0, len(images), batch_size):
            _, q, h = D(to_model_range(images[i : i + batch_size]).to(device), features=True)
            feats.append(h.float().cpu())
            qs.append(q.float().cpu())
    return torch.cat(feats), torch.cat(qs)


def drawing_votes(model: InfoGAN, images: torch.Tensor, code: str, per_code: int, neighbours: int,
                  seed: int) -> torch.Tensor:
    """(N, classes): the share of each real image's `neighbours` nearest drawings (cosine of the
    pixels) that each category of `code` drew; G draws per_code of each."""
    classes = model.spec.code(code).size
    drawings = torch.cat([model.generate(per_code, codes={code: c}, seed=seed + c) for c in range(classes)])
    return nearest_votes(images, drawings, torch.arange(classes).repeat_interleave(per_code), classes, neighbours)


def nearest_votes(images: torch.Tensor, drawings: torch.Tensor, drawn_with: torch.Tensor, classes: int,
                  neighbours: int) -> torch.Tensor:
    """(N, classes): for real images (uint8) and drawings in [0, 1] drawn with the categories
    drawn_with, the share of each image's `neighbours` nearest drawings, by the cosine of their
    pixels, that each category drew."""
    near = cosine_nearest(images.flatten(1).float() / 255, drawings.flatten(1).float(), neighbours)
    return F.one_hot(drawn_with[near], classes).sum(1).float() / neighbours


def cosine_nearest(queries: torch.Tensor, pool: torch.Tensor, k: int, exclude_self: bool = False,
                   chunk: int = 1000) -> torch.Tensor:
    """(len(queries), k): the indices of each query row's k nearest pool rows by cosine, chunk
    rows at a time; exclude_self (queries are the pool) leaves each row itself out."""
    pool = F.normalize(pool, dim=1)
    out = []
    for i in range(0, len(queries), chunk):
        sim = F.normalize(queries[i : i + chunk], dim=1) @ pool.T
        if exclude_self:
            sim[torch.arange(len(sim)), torch.arange(i, i + len(sim))] = -2
        out.append(sim.topk(k, dim=1).indices)
    return torch.cat(out)


def relabel(probs: torch.Tensor, votes: torch.Tensor, features: torch.Tensor, groups: int, margin: float,
            seed: int, dims: int = 64) -> tuple[torch.Tensor, np.ndarray, list[dict]]:
    """(the moved images' new categories, -1 elsewhere (N,); each image's group (N,); the moved
    groups: size, Q's class and the drawings', with the group's mean vote for each). The groups
    are k-means's of the unit-length features' first `dims` principal components."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    from threadpoolctl import threadpool_limits

    unit = F.normalize(features, dim=1).numpy()
    # scikit-learn's own threads number torch's (--threads), so a run's groups depend on the
    # thread count as its training does, and two runs side by side do not fight for the cores
    with threadpool_limits(torch.get_num_threads()):
        if min(unit.shape) > dims:  # k-means of 60,000 MNIST features: 80 s in 1,024 dimensions, 5 s in 64
            unit = PCA(dims, svd_solver="randomized", random_state=seed).fit_transform(unit)
        group_of = KMeans(groups, n_init=3, random_state=seed).fit_predict(unit.astype(np.float64))
    target = torch.full((len(probs),), -1, dtype=torch.long)
    moved = []
    for g in range(groups):
        rows = torch.from_numpy(group_of == g)
        if not rows.any():
            continue
        q_class = int(probs[rows].sum(0).argmax())
        vote = votes[rows].mean(0)
        v_class = int(vote.argmax())
        if v_class != q_class and float(vote[v_class] - vote[q_class]) > margin:
            target[rows] = v_class
            moved.append({"group": g, "images": int(rows.sum()), "from": q_class, "to": v_class,
                          "vote_from": round(float(vote[q_class]), 4), "vote_to": round(float(vote[v_class]), 4)})
    return target, group_of, moved


@torch.no_grad()
def head_outputs(q_head: torch.nn.Module, features: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Q's raw outputs (N, q_dim) from trunk features, in eval mode, on the CPU: what a stage that
    tuned Q's head made of the images (the trunk is untouched, so its features stand)."""
    device = next(q_head.parameters()).device
    with eval_mode(q_head):
        return torch.cat([q_head(f.to(device)).float().cpu() for f in features.split(batch_size)])


def other_columns(q_dim: int, cat: slice) -> torch.Tensor:
    """(q_dim,) bool: Q's outputs outside `cat`, the other codes', which a stage on Q's head holds."""
    keep = torch.ones(q_dim, dtype=torch.bool)
    keep[cat] = False
    return keep


def tune_head(q_head: torch.nn.Module, features: torch.Tensor, q_before: torch.Tensor, cat: slice,
              target: torch.Tensor, settings: Refinement, seed: int) -> None:
    """Train q_head (in eval mode: its batch norm keeps its statistics) so that its logits in
    `cat` give the moved images (target >= 0) their new category and every other image its old
    probabilities, and its other outputs stay as q_before."""
    keep = other_columns(q_before.shape[1], cat)
    soft = q_before[:, cat].softmax(1)
    moved = target >= 0
    soft[moved] = F.one_hot(target[moved], soft.shape[1]).float()
    device = next(q_head.parameters()).device
    opt = torch.optim.Adam(q_head.parameters(), lr=settings.lr)
    g = torch.Generator().manual_seed(seed)
    # (the weights' average, --ema, which a run saves, keeps its parameters without gradients)
    with eval_mode(q_head), requiring_grad(q_head, True), torch.enable_grad():
        for _ in range(settings.epochs):
            for idx in torch.randperm(len(features), generator=g).split(settings.batch_size):
                out = q_head(features[idx].to(device))
                loss = -(soft[idx].to(device) * out[:, cat].log_softmax(1)).sum(1).mean()
                if keep.any():
                    loss = loss + F.mse_loss(out[:, keep.to(device)], q_before[idx][:, keep].to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()


def refine(model: InfoGAN, images: torch.Tensor, settings: Refinement = Refinement(), seed: int = 0) -> dict:
    """Relabel model's first categorical code by the drawings and train Q's head to it, in
    place; images are the real training images (uint8). Returns the report."""
    if not model.spec.categorical:
        return {"moved_groups": [], "moved_images": 0}
    code = model.spec.categorical[0]
    cat = model.spec.q_slices[code.name]
    images = images.cpu()
    features, q_before = trunk_and_q(model.D, images)
    votes = drawing_votes(model, images, code.name, settings.per_code, settings.neighbours, seed)
    target, group_of, moved = relabel(q_before[:, cat].softmax(1), votes, features, settings.groups,
                                      settings.margin, seed, settings.dims)
    if moved:
        tune_head(model.D.q_head, features, q_before, cat, target, settings, seed)
    after = head_outputs(model.D.q_head, features)[:, cat].argmax(1)
    moved_rows = target >= 0
    return {"code": code.name, "groups": settings.groups, "margin": settings.margin,
            "moved_images": int(moved_rows.sum()), "moved_groups": moved,
            "moved_now_read_as_target": round(float((after[moved_rows] == target[moved_rows]).float().mean()), 4)
            if moved else None,
            "others_unchanged": round(float((after[~moved_rows] == q_before[~moved_rows][:, cat].argmax(1))
                                            .float().mean()), 4),
            "examples": {m["group"]: np.flatnonzero(group_of == m["group"])[:16].tolist() for m in moved}}
