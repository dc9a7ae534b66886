"""Are a weak seed's misplaced 7s misplaced in D's features too, or only in Q's categories?

    python benchmarks/feature_clusters.py RUN|CHECKPOINT [...] [--data-dir DIR] [--threads 2] [--graph 10]

The default's weak MNIST seeds file ~13% of the 7s with another digit because G's code for that
digit also draws crossed 7s (docs/studies/mnist.md: "Levers tried against the weak seeds"). If the features Q
reads its categories from (D's trunk, 1024 wide, and Q's hidden layer, 128 wide) still keep the
crossed 7s apart from that digit, a label-free re-reading of those features (k-means on the
training images, the restart with the lowest inertia kept) would repair the code after training;
if k-means files them with the other digit too, the trap is in the features and only training
can change it.

Prints one JSON object per run: Q's test accuracy, and for each feature space (raw and L2-
normalised) the test accuracy of the k-means clusters fitted on the training images and how many
test 7s fall outside their best-matched cluster. Test labels only score; nothing is chosen with them.

`--graph K` adds a reading that trusts neighbourhoods rather than distances to a centre (spectral
clustering, as N2D and SpectralNet read features): the test images' K-nearest-neighbour graph in
each L2-normalised space (cosine, after PCA to 50 dimensions), its first eigenvectors, k-means on
those. It is fitted on the test images themselves (transductive; their labels still only score).
Where a class is one connected but not round cloud, k-means cuts it and the graph does not.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.manifold import spectral_embedding
from sklearn.neighbors import NearestNeighbors

from infogan import InfoGAN, checkpoint, data
from infogan.metrics.clustering import cluster_scores
from infogan.model import to_model_range
from infogan.nets.common import eval_mode


@torch.no_grad()
def feature_spaces(model, images: torch.Tensor, batch: int = 1000) -> dict[str, np.ndarray]:
    """D's trunk output and Q's hidden layer (after its batch norm and leaky ReLU), eval mode."""
    trunk, hidden = [], []
    with eval_mode(model.D):
        for i in range(0, len(images), batch):
            h = model.D.trunk(to_model_range(images[i:i + batch]))
            trunk.append(h)
            hidden.append(model.D.q_head[:-1](h))
    return {"trunk": torch.cat(trunk).numpy(), "q_hidden": torch.cat(hidden).numpy()}


def normalised(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def graph_clusters(x: np.ndarray, k: int, neighbours: int, dims: int = 50) -> np.ndarray:
    """Spectral clustering of the rows of x into k groups on their symmetrised kNN graph."""
    if x.shape[1] > dims:
        x = PCA(dims, random_state=0).fit_transform(x)
    graph = NearestNeighbors(n_neighbors=neighbours + 1).fit(x).kneighbors_graph(x)
    graph = graph - sparse.identity(len(x), format="csr")  # each point is its own first neighbour
    embedding = spectral_embedding(0.5 * (graph + graph.T), n_components=k, drop_first=False, random_state=0)
    return KMeans(k, n_init=10, random_state=0).fit_predict(normalised(embedding))


def sevens_outside(scores: dict, pred: np.ndarray, labels: np.ndarray) -> int:
    seven = {t: int(p) for p, t in scores["match"].items()}.get(7)
    return int(((labels == 7) & (pred != seven)).sum())


def score(row: dict, key: str, pred: np.ndarray, labels: np.ndarray, k: int) -> None:
    s = cluster_scores(pred, labels, k)
    row[f"{key}_accuracy"] = s["accuracy"]
    row[f"{key}_sevens_outside"] = sevens_outside(s, pred, labels)


def load(path: str):
    """A run or model folder's model, or a checkpoint folder's weight average (its live weights
    when it has none), which is what a run's model/ holds at the end."""
    ckpt = Path(path)
    if not (ckpt / "meta.json").exists():
        return InfoGAN.from_pretrained(path)
    return checkpoint.load_model(ckpt, "ema" if "ema" in checkpoint.read_meta(ckpt).get("modules", []) else None)


def probe(run: str, x_train, x_test, y_test, k: int, restarts: int, graph: int = 0) -> dict:
    model = load(run)
    labels = y_test.numpy()
    row = {"run": run}
    score(row, "q", model.infer_codes(x_test)[model.spec.categorical[0].name].numpy(), labels, k)
    train, test = feature_spaces(model, x_train), feature_spaces(model, x_test)
    for name in train:
        for norm in (False, True):
            a, b = (normalised(train[name]), normalised(test[name])) if norm else (train[name], test[name])
            km = KMeans(k, n_init=restarts, random_state=0).fit(a)  # lowest inertia of the restarts
            score(row, f"kmeans_{name}{'_l2' if norm else ''}", km.predict(b), labels, k)
        if graph:
            score(row, f"graph_{name}_l2", graph_clusters(normalised(test[name]), k, graph), labels, k)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--data-dir")
    p.add_argument("--restarts", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--graph", type=int, default=0, metavar="K",
                   help="also spectral clustering on the test images' K-nearest-neighbour graph (0 = off)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    x_train, _ = data.load(args.dataset, "train", args.data_dir)
    x_test, y_test = data.load(args.dataset, "test", args.data_dir)
    for run in args.runs:
        row = probe(run, x_train, x_test, y_test, int(y_test.max()) + 1, args.restarts, args.graph)
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
