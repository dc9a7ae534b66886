"""Pictures: sample grids, per-code traversals, training GIFs and loss/MI plots."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from .latent import LatentSpec


def grid_tensor(images: torch.Tensor, nrow: int, pad: int = 2) -> torch.Tensor:
    """images (N, C, H, W) in [0, 1] -> one (C, H', W') grid, nrow images per row."""
    from torchvision.utils import make_grid  # (torchvision's import takes seconds: on first use)

    return make_grid(images.clamp(0, 1), nrow=nrow, padding=pad, pad_value=1.0)


def to_pil(images: torch.Tensor, nrow: int, pad: int = 2) -> Image.Image:
    grid = grid_tensor(images, nrow, pad)
    arr = (grid * 255).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(arr[:, :, 0] if images.shape[1] == 1 else arr)


def save_grid(images: torch.Tensor, path: Path, nrow: int, scale: int = 2) -> Path:
    img = to_pil(images, nrow)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def fixed_noise(spec: LatentSpec, n: int, seed: int) -> torch.Tensor:
    return spec.sample_noise(n, generator=torch.Generator().manual_seed(seed))


def noise_for_seeds(spec: LatentSpec, seeds: list[int]) -> torch.Tensor:
    """One noise vector per seed: (len(seeds), noise); seed s always gives the same z."""
    return torch.cat([fixed_noise(spec, 1, s) for s in seeds])


def category_grid(model, code: str | None = None, z: torch.Tensor | None = None, seed: int = 1234,
                  fixed: dict | None = None, classes: list[int] | None = None) -> tuple[torch.Tensor, int]:
    """The paper's categorical picture: one row per class of `code` (those in `classes`, in
    that order; default: all, in the code's order), one z per column.

    z (columns, noise) defaults to 10 vectors drawn from `seed`. Other codes are held at 0
    (continuous) or class 0 (other categorical), or at `fixed`. Returns (images, nrow).
    Without a categorical code: a random 10 x 10 grid.
    """
    spec = model.spec
    cats = spec.categorical
    z = fixed_noise(spec, 10, seed) if z is None else z
    columns = len(z)
    if code is None and not cats:
        return model.generate(columns * columns, seed=seed), columns
    c = spec.code(code) if code else cats[0]
    codes = {o.name: 0 for o in spec.codes if o.name != c.name}
    codes.update(fixed or {})
    rows = torch.arange(c.size) if classes is None else torch.as_tensor(classes, dtype=torch.long)
    codes[c.name] = rows.repeat_interleave(columns)
    return model.generate(len(rows) * columns, codes=codes, z=z.repeat(len(rows), 1)), columns


def continuous_traversal(model, code: str, values: torch.Tensor, z: torch.Tensor | None = None,
                         seed: int = 1234, fixed: dict | None = None) -> tuple[torch.Tensor, int]:
    """The paper's Figure 2: columns sweep `code` over `values`, each row keeps its z.

    z (rows, noise) defaults to 10 vectors drawn from `seed`. With a categorical code, row i
    uses class i % k so every class appears (unless `fixed` sets it).
    """
    spec = model.spec
    c = spec.code(code)
    z = fixed_noise(spec, 10, seed) if z is None else z
    rows, cols = len(z), len(values)
    codes = {o.name: 0 for o in spec.codes if o.name != c.name}
    cats = spec.categorical
    if cats and c.kind != "cat":
        codes[cats[0].name] = (torch.arange(rows) % cats[0].size).repeat_interleave(cols)
    codes.update(fixed or {})
    codes[c.name] = values.float().repeat(rows)
    return model.generate(rows * cols, codes=codes, z=z.repeat_interleave(cols, 0)), cols


def traverse_code(model, name: str, seeds: list[int], values: torch.Tensor, fixed: dict | None = None,
                  classes: list[int] | None = None):
    """(images, nrow): a categorical code gets one row per class (in `classes`' order where
    given) and one column per seed (the paper's Fig. 2a); a continuous one gets one row per
    seed and one column per value."""
    z = noise_for_seeds(model.spec, seeds)
    if model.spec.code(name).kind == "cat":
        return category_grid(model, name, z=z, fixed=fixed, classes=classes)
    return continuous_traversal(model, name, values, z=z, fixed=fixed)


def traversal_gif(images: torch.Tensor, nrow: int, categorical: bool, path: Path, ms_per_frame: int = 150) -> Path:
    """A GIF that sweeps a traverse_code picture: one frame per class (categorical) or per
    value (continuous), showing every row's image at that step, played forth and back."""
    path = Path(path)
    rows = len(images) // nrow
    picks = ([images[j * nrow : (j + 1) * nrow] for j in range(rows)] if categorical
             else [images[j::nrow] for j in range(nrow)])
    frames = []
    for j, pick in enumerate(picks):
        frames.append(save_grid(pick, path.parent / f".frame-{path.stem}-{j:03d}.png", min(len(pick), 10), scale=3))
    save_gif(frames + frames[-2:0:-1], path, ms_per_frame)
    for f in frames:
        f.unlink()
    return path


def interpolation(model, seeds: tuple[int, int], steps: int, fixed: dict | None = None) -> torch.Tensor:
    """(steps, C, H, W): a walk from seed A's latent to seed B's. Noise and continuous codes
    move linearly; categorical codes switch half way."""
    spec = model.spec
    ends = [spec.sample(1, generator=torch.Generator().manual_seed(s)) for s in seeds]
    t = torch.linspace(0, 1, steps).unsqueeze(1)  # (steps, 1)
    z = (1 - t) * ends[0][0] + t * ends[1][0]
    codes = {}
    for c in spec.codes:
        a, b = ends[0][1][c.name].float(), ends[1][1][c.name].float()
        codes[c.name] = torch.where(t[:, 0] < 0.5, a, b).long() if c.kind == "cat" else (1 - t[:, 0]) * a + t[:, 0] * b
    codes.update(fixed or {})
    return model.generate(steps, codes=codes, z=z)


def save_gif(frames: list[Path], path: Path, ms_per_frame: int = 300) -> Path | None:
    if not frames:
        return None
    opened = [Image.open(f) for f in frames]
    images = [im.convert("L" if im.mode == "L" else "RGB") for im in opened]
    images[0].save(path, save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)
    return Path(path)


def plot_stats(rows: list[dict], out: Path, spec: LatentSpec) -> Path | None:
    """losses.png from a run's stats.jsonl rows (Run.stats): D/G losses, each code's MI lower
    bound against its H(c), and (when the run logged it) each categorical code's held-out
    accuracy per epoch."""
    loss_rows = [r for r in rows if "loss_D" in r]
    acc_rows = [r for r in rows if any(k.startswith("acc/") for k in r)]
    if not loss_rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in loss_rows]
    fig, axes = plt.subplots(1, 3 if acc_rows else 2, figsize=(16 if acc_rows else 11, 4))
    ax1, ax2 = axes[0], axes[1]
    for key in ("loss_D", "loss_G", "loss_info", "loss_invariance"):
        if key in loss_rows[0]:
            ax1.plot(steps, [r[key] for r in loss_rows], label=key)
    ax1.set_xlabel("step")
    ax1.set_title("losses")
    ax1.legend()
    for code in spec.codes:
        line = ax2.plot(steps, [r[f"mi/{code.name}"] for r in loss_rows], label=f"{code.name} ({code.kind})")[0]
        ax2.axhline(code.entropy, ls="--", lw=0.8, color=line.get_color())
    ax2.set_xlabel("step")
    ax2.set_title("MI lower bound H(c) - E[-log Q(c|x)] (nats); dashed: H(c)")
    ax2.legend()
    if acc_rows:
        for code in spec.categorical:
            ax3 = axes[2]
            ax3.plot([r["step"] for r in acc_rows], [r[f"acc/{code.name}"] for r in acc_rows], "o-", label=code.name)
        ax3.set_ylim(0, 1)
        ax3.set_xlabel("step")
        ax3.set_title("held-out accuracy of the categorical codes (Hungarian)")
        ax3.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return Path(out)


def save_confusion(matrix, path: Path, class_names, title: str) -> Path:
    """A confusion matrix (true class rows x matched code columns) as a PNG heat map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5.5))
    ax.imshow(matrix, cmap="Blues")
    k = len(matrix)
    for i in range(k):
        for j in range(len(matrix[i])):
            v = int(matrix[i][j])
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                        color="white" if v > max(map(max, matrix)) / 2 else "black")
    ax.set_xticks(range(len(matrix[0])))
    ax.set_yticks(range(k))
    ax.set_yticklabels(class_names, fontsize=7)
    ax.set_xlabel("code class (matched)")
    ax.set_ylabel("true class")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
