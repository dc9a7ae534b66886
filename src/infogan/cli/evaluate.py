"""`infogan evaluate RUN_OR_MODEL_DIR`: what the codes learned, on real held-out images."""

from __future__ import annotations

import json
from pathlib import Path

from .. import data
from ..model import InfoGAN, resolve_model_dir


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="measure a trained model on held-out images")
    p.add_argument("model", help="a run folder or a model folder")
    p.add_argument("--split", default="test", choices=["test", "train"])
    p.add_argument("--data-dir", help="look for the dataset's files here first")
    p.add_argument("--samples", type=int, default=10000, help="generated samples for the MI bounds")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--no-quality", dest="quality", action="store_false",
                   help="skip the Frechet distance / classifier score (saves training the feature classifier once)")
    p.set_defaults(run=run)


def evaluate_and_report(model: InfoGAN, out_dir: Path, dataset: str, data_dir, split: str,
                        as_json: bool, n_samples: int = 10000, quality: bool = True,
                        loaded: dict | None = None) -> dict:
    """Evaluate, write metrics.json and confusion PNGs into out_dir, print a table or JSON.
    loaded: {split: (images, labels)} the caller already holds (training does), not read again."""
    from ..metrics import evaluate_model
    from ..metrics.quality import get_classifier
    from ..viz import save_confusion

    size, channels = model.config["image_size"], model.config["channels"]
    loaded = dict(loaded or {})

    def load(name):
        if loaded.get(name) is None:
            loaded[name] = data.load(dataset, name, data_dir, image_size=size, channels=channels)
        return loaded[name]

    images, labels = load(split)
    classifier = None
    if quality and labels is not None:
        classifier = get_classifier(dataset, *load("train"))
    result = {"dataset": dataset, "split": split,
              **evaluate_model(model, images, labels, n_samples, classifier=classifier)}
    out_dir = Path(out_dir)
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    names = data.get(dataset).classes
    for name, r in result["categorical"].items():
        save_confusion(r["confusion"], out_dir / f"confusion-{name}.png", names,
                       f"{dataset} {split}: code {name}, accuracy {r['accuracy']:.3f}")
    if as_json:
        print(json.dumps(result))
    else:
        print(format_table(result))
    return result


def format_table(result: dict) -> str:
    lines = [f"{result['dataset']} {result['split']} ({result['n_images']} images)",
             f"{'code':<8}{'accuracy':>10}{'NMI':>8}{'ARI':>8}{'MI bound':>10}{'H(c)':>8}{'frac':>7}{'R^2':>7}"]
    for name, info in result["information"].items():
        cat = result["categorical"].get(name, {})
        acc = f"{cat['accuracy']:.4f}" if cat else "-"
        nmi = f"{cat['nmi']:.3f}" if cat else "-"
        ari = f"{cat['ari']:.3f}" if cat else "-"
        r2 = f"{info['r2']:.3f}" if "r2" in info else "-"
        lines.append(f"{name:<8}{acc:>10}{nmi:>8}{ari:>8}{info['mi_lower_bound']:>10.3f}"
                     f"{info['entropy']:>8.3f}{info['fraction']:>7.2f}{r2:>7}")
    if "quality" in result:
        q = result["quality"]
        lines.append(f"samples: Frechet distance {q['frechet_distance']:.2f}, classifier score "
                     f"{q['classifier_score']:.2f} (real images: {q['classifier_score_real']:.2f}; "
                     f"classifier accuracy {q['classifier_accuracy']:.4f})")
    return "\n".join(lines)


def run(args) -> int:
    model_dir = resolve_model_dir(args.model)
    model = InfoGAN.from_pretrained(model_dir)
    out_dir = model_dir.parent if model_dir.name == "model" else model_dir
    evaluate_and_report(model, out_dir, model.config["dataset"], args.data_dir, args.split, args.json, args.samples,
                        args.quality)
    return 0
