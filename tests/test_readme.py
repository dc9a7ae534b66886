"""The README is the manual: its commands must exist and its Python example must run."""

import re
from pathlib import Path

import torch
from PIL import Image

from infogan import InfoGAN
from infogan.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
STUDIES = sorted((ROOT / "docs" / "studies").glob("*.md"))  # the studies the README links to


def code_blocks(lang: str, text: str = README) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_quick_start_is_the_two_make_commands():
    first = code_blocks("bash")[0]
    assert [line.split("#")[0].strip() for line in first.strip().splitlines()] == ["make run", "make test"]
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    assert "\nrun:" in makefile and "\ntest:" in makefile
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "make test" in ci


def test_every_documented_subcommand_exists():
    parser = build_parser()
    known = set(parser._subparsers._group_actions[0].choices)
    blocks = code_blocks("bash") + [b for page in STUDIES for b in code_blocks("bash", page.read_text())]
    used = set(re.findall(r"^infogan ([a-z]+)", "\n".join(blocks), flags=re.M))
    assert used and used <= known, used - known


def test_the_links_to_the_studies_and_their_pictures_resolve():
    """The study pages moved out of the README: every relative link, both ways, names a file."""
    assert STUDIES
    for page in [ROOT / "README.md", *STUDIES]:
        text = page.read_text()
        for target, anchor in re.findall(r"\]\(([^)#:]*)(?:#([^)]*))?\)", text):
            linked = page.parent / target if target else page
            assert linked.exists(), f"{page.name}: {target}"
            if anchor and linked.suffix == ".md":  # GitHub's heading anchors
                headings = re.findall(r"^#+ (.*)$", linked.read_text(), flags=re.M)
                slugs = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}
                assert anchor in slugs, f"{page.name}: {target}#{anchor}"


def test_python_api_example_runs(tmp_path, monkeypatch):
    torch.manual_seed(0)
    InfoGAN("z62,cat10,cont2", width=0.125).save_pretrained(tmp_path / "runs" / "00000-mnist" / "model")
    monkeypatch.chdir(tmp_path)
    Image.new("L", (40, 40)).save("seven.png")
    example = next(b for b in code_blocks("python") if "from_pretrained" in b)
    scope = {"real_images": torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)}
    exec(compile(example, "README.md", "exec"), scope)  # noqa: S102 (our own README)
    assert scope["images"].shape == (16, 1, 28, 28)
    assert scope["probs"].shape == (5, 10) and scope["codes"]["c1"].shape == (1,)
    assert (tmp_path / "my-model" / "model.safetensors").is_file()


def test_python_workflow_example_names_real_options(tmp_path, monkeypatch):
    """The train/evaluate/sweep example is not run (it trains for minutes); every call in it is
    checked instead: its options are TrainConfig's, its metrics are registered."""
    import infogan
    from infogan.metrics import METRICS
    from infogan.run import Run
    from infogan.study import sweep as real_sweep
    from infogan.trainer import prepare

    calls = []

    def train(preset="mnist", *, resume=None, **options):
        if resume is None:
            prepare(preset, **options)  # raises on an unknown option or a bad value
        calls.append("train")
        return Run(tmp_path / "runs" / "00001-mnist-seed1")

    def evaluate(model, *, metrics=None, **kw):
        assert all(METRICS.lookup(m) for m in metrics or [])
        calls.append("evaluate")
        return {}

    def sweep(preset="mnist", seeds=range(5), *, out="sweeps", jobs=1, threads=None, **options):
        import inspect

        inspect.signature(real_sweep).bind(preset, seeds, out=out, jobs=jobs, threads=threads)
        prepare(preset, **options)
        calls.append("sweep")
        return {"summary": {"accuracy": {"median": 0.98}}}

    for name, fn in (("train", train), ("evaluate", evaluate), ("sweep", sweep)):
        monkeypatch.setattr(infogan, name, fn)
    example = next(b for b in code_blocks("python") if "import evaluate, sweep, train" in b)
    exec(compile(example, "README.md", "exec"), {})  # noqa: S102 (our own README)
    assert calls == ["train", "evaluate", "sweep", "train"]
