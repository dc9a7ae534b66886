"""Sample quality on a domain classifier's features (no Inception download here or needed).

Protocol (documented in the README):
  - a small CNN (2 conv + 2 FC, 128-d penultimate layer) trained on the dataset's *training*
    split for 2 epochs with a fixed seed on one thread. For MNIST and Fashion-MNIST the weights
    ship with infogan (classifiers/<dataset>-v3-<sha of the training images>.safetensors, used
    when the training images are the published ones); for other data infogan trains it once
    and caches it under $INFOGAN_DATA/classifiers/. The SHA-256 of its weights is reported and
    checked against the reference (REFERENCE below: the classifier behind the README's
    figures), so a Frechet distance says whether it can be compared with them;
  - Frechet distance ("FD") between Gaussians fitted to the 128-d features of the 10,000
    *test* images and of 10,000 generated samples (all codes drawn from their priors);
  - classifier score ("CS", the Inception-score analogue): exp(E_x KL(p(y|x) || p(y))) over the
    same samples; 10 is the most a 10-class classifier can give.
These numbers compare runs of this tool with each other; they are not Inception FIDs.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from scipy import linalg
from torch import nn

from ..data import cache_root
from ..errors import InfoGANError
from ..model import to_model_range
from .registry import Column, EvalContext, Metric

CLASSIFIER_VERSION = 3  # 2: trained on one thread; 3: MNIST's and Fashion-MNIST's ship with infogan
# Why ship them: one thread and one seed make the weights the same for any thread count, not
# for any CPU. On an AVX-512 + AMX Xeon the v2 recipe gave other weights than on the machine
# that set v2's reference, under each of four kernel choices (ATEN_CPU_CAPABILITY avx2/avx512,
# ONEDNN_MAX_CPU_ISA AVX2/AVX512_CORE/AVX512_CORE_AMX), so only the weights themselves make a
# Frechet distance the same on every machine. SHA-256 of the reference weights
# (weights_sha256), keyed by the cache key; trained on PyTorch 2.14.1, one thread:
REFERENCE: dict[str, str] = {
    "mnist-v3-741c988805d008ac": "29d7e215751ec98c4fd1af055bc13aaa1c0a1a48b5fc81b7b85c5d7bff196a98",
    "fashion-mnist-v3-2e487a6c89124f78": "f0bbe0acdeba38fccc92f2dcbe589231e49b77ec012322a7def8c58b717c1030",
}
SHIPPED = Path(__file__).parent / "classifiers"


class FeatureNet(nn.Module):
    def __init__(self, channels: int = 1, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 14, 14)
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 64, H/4, W/4)
            nn.AdaptiveAvgPool2d(7), nn.Flatten(),  # (B, 64 * 7 * 7), for 28 px and larger images
            nn.Linear(64 * 7 * 7, 128), nn.ReLU(),  # (B, 128): the features
        )
        self.head = nn.Linear(128, classes)

    def forward(self, x):
        f = self.features(x)
        return f, self.head(f)


def _key(dataset: str, images: torch.Tensor) -> str:
    digest = hashlib.sha256(images.numpy().tobytes()).hexdigest()[:16]
    return f"{dataset}-v{CLASSIFIER_VERSION}-{digest}"


def fit_supervised(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, opt, epochs: int,
                   batch_size: int, seed: int, progress: bool = False, desc: str = "classifier") -> nn.Module:
    """Cross-entropy training of a net whose forward returns (features, logits); eval mode after."""
    from tqdm import tqdm

    gen = torch.Generator().manual_seed(seed)
    net.train()
    for _ in tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress):
        perm = torch.randperm(len(images), generator=gen)
        for i in range(len(images) // batch_size):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            _, logits = net(to_model_range(images[idx]))
            loss = F.cross_entropy(logits, labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return net.eval()


def train_classifier(images: torch.Tensor, labels: torch.Tensor, epochs: int = 2, seed: int = 0) -> FeatureNet:
    """Trained on one thread whatever the process uses: another thread count sums in another
    order, and the weights (and every Frechet distance) would change with it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        net = FeatureNet(images.shape[1], int(labels.max()) + 1)
        return fit_supervised(net, images, labels, torch.optim.Adam(net.parameters(), lr=1e-3), epochs, 128, seed)
    finally:
        torch.set_num_threads(threads)


def weights_sha256(net: nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(net.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def get_classifier(dataset: str, train_images: torch.Tensor, train_labels: torch.Tensor) -> FeatureNet:
    """The feature classifier for this dataset: the shipped one when the training images are
    those it was trained on, else the cached one, training it once if needed; its `key`
    attribute names it (the cache key) for the reference check."""
    key = _key(dataset, train_images)
    shipped = SHIPPED / f"{key}.safetensors"
    if shipped.is_file():
        net = FeatureNet(train_images.shape[1], int(train_labels.max()) + 1)
        try:
            net.load_state_dict(load_file(str(shipped)))
        except Exception as e:
            raise InfoGANError(f"the feature classifier shipped with infogan ({shipped}) cannot be read "
                               f"({type(e).__name__}); reinstall infogan") from None
        net.eval()
    else:
        net = _cached_classifier(key, train_images, train_labels)
    net.key = key
    return net


def _cached_classifier(key: str, train_images: torch.Tensor, train_labels: torch.Tensor) -> FeatureNet:
    path = cache_root() / "classifiers" / f"{key}.safetensors"
    net = FeatureNet(train_images.shape[1], int(train_labels.max()) + 1)
    if path.is_file():
        try:
            net.load_state_dict(load_file(str(path)))
            return net.eval()
        except Exception:  # a corrupt cache entry is rebuilt, not fatal
            pass
    net = train_classifier(train_images, train_labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp))
    tmp.replace(path)
    return net


@torch.no_grad()
def features(net: FeatureNet, images01: torch.Tensor, batch: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, 128), probabilities (N, classes)) for images in [0, 1] or uint8."""
    fs, ps = [], []
    for i in range(0, len(images01), batch):
        f, logits = net(to_model_range(images01[i : i + batch]))
        fs.append(f.double())
        ps.append(logits.double().softmax(1))
    return torch.cat(fs).numpy(), torch.cat(ps).numpy()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # near-singular covariances (tiny test sets) only cost accuracy
        warnings.simplefilter("ignore")
        covmean = np.real(linalg.sqrtm(s1 @ s2))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def classifier_score(probs: np.ndarray) -> float:
    marginal = probs.mean(0, keepdims=True)
    kl = (probs * (np.log(probs + 1e-12) - np.log(marginal + 1e-12))).sum(1)
    return float(np.exp(kl.mean()))


def sample_quality(model, net: FeatureNet, test_images: torch.Tensor, n: int = 10000, seed: int = 0) -> dict:
    fake = torch.cat([model.generate(min(1000, n - i), seed=seed + i) for i in range(0, n, 1000)])
    f_real, p_real = features(net, test_images)
    f_fake, p_fake = features(net, fake)
    return {"frechet_distance": frechet_distance(f_real, f_fake), "classifier_score": classifier_score(p_fake),
            "classifier_score_real": classifier_score(p_real), "n_samples": n}


def quality_metric(ctx: EvalContext) -> dict:
    net = get_classifier(ctx.dataset, *ctx.train_split())
    result = sample_quality(ctx.model, net, ctx.images, n=ctx.n_samples, seed=ctx.seed)
    result["classifier_accuracy"] = float((features(net, ctx.images)[1].argmax(1) == ctx.labels.numpy()).mean())
    sha = weights_sha256(net)
    result["classifier"] = {"key": net.key, "weights_sha256": sha,
                            "reference": None if net.key not in REFERENCE else sha == REFERENCE[net.key]}
    return result


def lines(q: dict) -> list[str]:
    out = [f"samples: Frechet distance {q['frechet_distance']:.2f}, classifier score {q['classifier_score']:.2f} "
           f"(real images: {q['classifier_score_real']:.2f}; classifier accuracy {q['classifier_accuracy']:.4f})"]
    if q.get("classifier", {}).get("reference") is False:
        out.append("note: this machine's feature classifier is not the reference one (its weights differ), so these "
                   "sample-quality figures do not compare with the README's")
    return out


METRIC = Metric(
    name="quality",
    help="sample quality on infogan's own classifier of the dataset: Frechet distance of its features "
         "(test images vs samples) and classifier score",
    compute=quality_metric,
    needs=frozenset({"labels", "train"}),  # the feature classifier is trained on the training labels
    columns=(Column("frechet_distance", "Frechet distance", lambda q: q["frechet_distance"]),),
    lines=lines,
)
