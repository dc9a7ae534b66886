"""Training options: one typed dataclass with the paper's defaults, and presets as overrides.

Each option is declared once, here, with its help text and its group; the command line
(`infogan train`, `infogan bench`, benchmarks/) is built from these declarations:

  model       what the networks and codes are          (a resumed run keeps them)
  objective   what the losses are                      (kept)
  training    the batch, Adam's settings, the seed     (kept)
  length      how long to train                        (a resumed run may extend it)
  speed       how the step is computed, not what       (may change on resume; changes no math)
  run         bookkeeping: folders, logs, checkpoints  (may change on resume)
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from dataclasses import dataclass, field

from .errors import InfoGANError
from .latent import MAX_SEED, LatentSpec

# the speed options' allowed values (speed.py applies them)
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")
AMP_MODES = ("off", "bf16", "auto")
ADAM_KERNELS = ("fused", "foreach", "loop")
RESUMABLE_GROUPS = ("length", "speed", "run")


# the terms that have Q (or its trunk) read real images and their transformed copies
REAL_IMAGE_TERMS = ("consistency", "self_label", "balance", "overcluster", "contrast")

MAX_AFFINE = 2.0  # --affine's top: +-30 deg rotation and shear, +-20% zoom, +-4 px shift


def flag_list(names: tuple[str, ...], last: str = "or") -> str:
    """Options as the command line spells them, in a sentence: "--a, --b or --c"."""
    flags = [f"--{name.replace('_', '-')}" for name in names]
    return f"{', '.join(flags[:-1])} {last} {flags[-1]}" if len(flags) > 1 else flags[0]


def option(default, help: str, group: str, choices: tuple | None = None, in_name: str | None = None):
    """A TrainConfig field with its help line and group; in_name: its short form in run
    folder names when a run sets it away from the preset's value (see run.py)."""
    return field(default=default, metadata={"help": help, "group": group, "choices": choices, "in_name": in_name})


@dataclass
class TrainConfig:
    preset: str = option("mnist", "the preset these options start from", "model")
    dataset: str = option("mnist", "the training data (`infogan data list`)", "model")
    latent: str = option("z62,cat10,cont2", "latent spec, e.g. 'z62,cat10,cont2' (README: the latent spec)",
                         "model", in_name="latent")
    arch: str = option("mnist", "network family (`infogan presets` lists them)", "model", in_name="arch")
    g_arch: str = option("family", "generator: the family's own, the paper's MNIST G (mnist) or InfoCapsGAN's "
                                   "capsule G (caps); the last two for 28-px presets", "model",
                         choices=("family", "mnist", "caps"), in_name="g")
    width: float = option(1.0, "channel/unit multiplier of the networks (1 = the paper's)", "model")
    q_sharpness: float | None = option(None, "capsule Q only (arch caps, capsnet): its logits are this times "
                                             "log |s_k|^2 (docs/studies/infocapsgan.md; default: the network's own)",
                                       "model", in_name="qT")
    image_size: int = option(28, "image side in pixels (celeba/folder images are cropped and resized to it)", "model")
    channels: int = option(1, "folder images: 1 (grayscale) or 3 (colour)", "model", choices=(1, 3))
    bad_images: str = option("skip", "folder/celeba: skip unreadable images (named in the log) or stop", "model",
                             choices=("skip", "error"))
    # the paper's losses (InfoGAN appendix C) and the categorical codes' invariance term
    lambda_cat: float = option(1.0, "lambda of categorical codes without an @lambda in --latent", "objective",
                               in_name="lcat")
    lambda_cont: float = option(0.1, "lambda of continuous codes without an @lambda in --latent", "objective",
                                in_name="lcont")
    invariance: float = option(0.0, "weight of the categorical codes' invariance to small affine/stroke "
                                    "changes (augment.py; 0 = the paper)", "objective", in_name="inv")
    consistency: float = option(0.0, "weight of Q's consistency on real images: the mutual information of its "
                                      "classes of x and of a transformed T(x) (IIC; 0 = off)", "objective",
                                in_name="cons")
    self_label: float = option(0.0, "weight of self-labelling: Q's confident classes of real images as the "
                                     "targets of their transformed copies (0 = off)", "objective", in_name="self")
    self_label_threshold: float = option(0.95, "the confidence Q needs for a self-label", "objective")
    balance: float = option(0.0, "weight of a pull toward even classes on real images: KL of Q's mean class "
                                 "over the batch from uniform, on top of consistency's own (0 = off)", "objective",
                            in_name="bal")
    overcluster: float = option(0.0, "weight of an auxiliary head's consistency on real images: the IIC term of "
                                     "--consistency on a head of --overcluster-k classes that reads D's trunk and "
                                     "no code, so it trains the shared features only (IIC's overclustering; 0 = off)",
                                "objective", in_name="over")
    overcluster_k: int = option(50, "classes of the --overcluster head (more than the data has)", "objective",
                                in_name="overk")
    contrast: float = option(0.0, "weight of an instance-contrastive term on D's trunk: each real image's features "
                                  "must be nearer its transformed copy's than the batch's other images' (SimCLR's "
                                  "NT-Xent on [x, T(x)]; trains the shared features only; 0 = off)", "objective",
                             in_name="ctr")
    contrast_temperature: float = option(0.5, "the temperature of --contrast's softmax over cosine similarities",
                                         "objective", in_name="ctrt")
    cover: float = option(0.0, "weight of a pull that makes G draw every real image: each real image's nearest "
                               "drawing of the batch (--cover-space) is drawn toward it (IMLE; 0 = off)",
                          "objective", in_name="cover")
    cover_space: str = option("trunk", "where --cover measures nearness: D's trunk features, or the images' ink "
                                       "(pixels in [0, 1]), each row scaled to unit length", "objective",
                              choices=("trunk", "pixels"), in_name="cspace")
    q_fakes: float = option(1.0, "weight in D's phase of the categorical codes' information and invariance losses: "
                                 "how much Q and the trunk learn the categories from G's drawings (1 = the paper; "
                                 "G's phase keeps 1; below 1 Q's classes come more from the real-image terms)",
                            "objective", in_name="qfake")
    erase: int = option(0, "side in pixels of a square hidden at random in the real images' transformed "
                           f"copies that Q reads ({flag_list(REAL_IMAGE_TERMS)}; cutout; 0 = off)",
                         "objective", in_name="erase")
    fake_erase: int = option(0, "side in pixels of a square hidden at random in the invariance term's transformed "
                                "fakes, from which Q must still read G's categories (cutout; 0 = off)",
                             "objective", in_name="ferase")
    erase_start: float = option(0.0, "fraction of the run before --erase and --fake-erase turn on (until then the "
                                     "copies are whole, and the run draws what a run without them draws)",
                                "objective", in_name="erstart")
    brightness: float = option(0.0, "the transformed copies (fakes' and real images') are also darker or lighter: "
                                    "their ink times a gain log-uniform in [1/(1+b), 1+b] (0 = off)", "objective",
                               in_name="bright")
    gamma: float = option(0.0, "the transformed copies' ink (in [0, 1]) is also raised to a power log-uniform in "
                               "[1/(1+g), 1+g]: greys lifted or deepened, not only scaled (0 = off)", "objective",
                          in_name="gamma")
    blur: float = option(0.0, "the transformed copies are also blurred: a Gaussian of standard deviation uniform in "
                              "[0, b] pixels, at most 1.5 (a fabric's print or check wiped out, its outline kept; "
                              "0 = off)", "objective", in_name="blur")
    affine: float = option(1.0, "the transformed copies' ranges of rotation, shear, zoom and shift times this (1: "
                                "+-15 deg, +-15 deg, +-10%, +-2 px, made for digits; 0: no geometric change; at most "
                                f"{MAX_AFFINE:g})", "objective", in_name="affine")
    morph: float = option(0.5, "chance that a transformed copy's strokes are also thickened or thinned (a half-strength "
                               "3x3 dilation or erosion, half each; made for digits' strokes; 0 = never)", "objective",
                          in_name="morph")
    flip: float = option(0.0, "chance that a transformed copy is also mirrored left to right (0 = never)", "objective",
                         in_name="flip")
    mimic: int | None = option(None, "InfoCapsGAN's mimic mode from this step on: half of each fake batch is G "
                                     "redrawing D's class capsules of real images (capsule D and G; one "
                                     "categorical code)", "objective", in_name="mimic")
    cr: float = option(0.0, "weight of InfoGAN-CR's contrastive regulariser on the continuous codes (cr.py; 0 = off)",
                       "objective", in_name="cr")
    cr_start: float = option(0.0, "fraction of the run before the contrastive regulariser turns on", "objective")
    refine_groups: int = option(0, "after training, relabel by the drawings (refine.py): of this many k-means "
                                   "groups of the real images' trunk features, those whose nearest drawings "
                                   "(pixels) vote for another category than Q's move to it, and Q's head learns "
                                   "the move (0 = off)", "objective", in_name="refine")
    refine_margin: float = option(0.2, "how much a group's mean vote for another category must beat its vote for "
                                       "Q's category of it before it moves", "objective", in_name="rmargin")
    neighbour_steps: int = option(0, "after training, this many steps of Adam teach Q's head that each real "
                                     "training image and its 20 nearest in D's trunk features share a category "
                                     "(neighbours.py; 0 = off)", "objective", in_name="nbr")
    neighbour_entropy: float = option(2.0, "the neighbour stage's weight on the entropy of Q's mean category, "
                                           "which keeps every category in use", "objective", in_name="nbrent")
    # the paper's optimiser settings; Q shares D's optimiser, as in the official code
    seed: int = option(0, "random seed (runs are reproducible for a given thread count)", "training", in_name="seed")
    batch_size: int = option(64, "images per step", "training")
    lr_d: float = option(2e-4, "Adam learning rate of D, its trunk and Q", "training", in_name="lrd")
    lr_g: float = option(1e-3, "Adam learning rate of G", "training", in_name="lrg")
    beta1: float = option(0.5, "Adam beta1", "training")
    beta2: float = option(0.999, "Adam beta2", "training")
    lr_decay: float = option(0.0, "both learning rates fall linearly to 0 over this last fraction of the run "
                                  "(0 = constant)", "training", in_name="lrdecay")
    ema: float = option(0.0, "decay of an exponential moving average of the weights, which the saved model, "
                             "the pictures and the evaluation use (0 = off)", "training", in_name="ema")
    # length: max_steps wins when given; otherwise epochs over the training set
    epochs: int = option(5, "epochs over the training set", "length")
    max_steps: int | None = option(None, "train this many steps (overrides --epochs)", "length")
    # speed: the same numbers, computed differently (README, "Speed"; speed.py)
    device: str = option("auto", "auto | cpu | cuda | cuda:N", "speed")
    threads: int | None = option(None, "CPU threads (default: torch's choice, one per core)", "speed")
    adam: str = option("fused", "Adam's kernels: the same update either way", "speed", choices=ADAM_KERNELS)
    channels_last: bool = option(False, "NHWC tensors for the convolutions (measured no faster on CPU)", "speed")
    compile: str = option("off", "torch.compile G and D (CPU only)", "speed", choices=COMPILE_MODES)
    compile_routing: bool = option(True, "CPU: torch.compile the capsule D/Q's routing (arch caps, capsnet; "
                                         "eager if compiling fails; --compile compiles all of D instead)", "speed")
    amp: str = option("off", "autocast the forward passes in bfloat16; losses stay float32 (auto: on a CPU with "
                               "bfloat16 units, off elsewhere)", "speed", choices=AMP_MODES)
    keep_memory: bool = option(True, "CPU: keep freed memory in the process instead of faulting it in again "
                                     "each step (changes no number)", "speed")
    tf32: bool = option(True, "CUDA: float32 matrix products and convolutions in TF32 on the tensor cores", "speed")
    cuda_graph: bool = option(True, "CUDA: capture the whole step once as a CUDA graph and replay it "
                                    "(off under torchrun)", "speed")
    # bookkeeping
    outdir: str = option("runs", "where run folders are made", "run")
    data_dir: str | None = option(None, "look for the dataset's files here first", "run")
    log_every: int = option(50, "steps between loss logs (the only host syncs in the loop)", "run")
    ckpt_every: int = option(1000, "steps between checkpoints", "run")
    ckpt_minutes: float = option(10.0, "minutes between checkpoints as well, whatever the step (0 = off)", "run")
    keep_ckpts: int = option(3, "checkpoints kept", "run")
    on_nan: str = option("stop", "a non-finite loss or weight (its update is skipped): stop, naming the step, "
                                 "or roll back to the last checkpoint and go on with another random stream",
                         "run", choices=("stop", "rollback"))
    max_rollbacks: int = option(3, "rollbacks allowed in a run (--on-nan rollback)", "run")
    sample_every: int | None = option(None, "steps between sample grids (default: once per epoch)", "run")
    evaluate: bool = option(True, "measure the model on the test set at the end", "run")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def options(*groups: str) -> list[dataclasses.Field]:
    """TrainConfig's fields in these groups (all of them when none is named)."""
    return [f for f in dataclasses.fields(TrainConfig) if not groups or f.metadata["group"] in groups]


# how long a run trains: a resume may make it longer, a sweep's seeds are all one length
LENGTH = ("epochs", "max_steps")


def resumable(name: str) -> bool:
    """Whether a resumed run may change this option (length, speed, bookkeeping)."""
    return TrainConfig.__dataclass_fields__[name].metadata["group"] in RESUMABLE_GROUPS


def first_difference(saved: dict, cfg: TrainConfig) -> tuple[str, object, object] | None:
    """(option, its value in a run folder's config.json, in cfg) for the first option a resume
    may not change that differs, or None when the folder describes cfg. An option newer than
    the run takes its default, which repeats what the run did."""
    old = TrainConfig.from_dict(saved).to_dict()
    return next(((k, old[k], v) for k, v in cfg.to_dict().items() if not resumable(k) and old[k] != v), None)


@dataclass(frozen=True)
class Preset:
    help: str
    overrides: dict


# The default objective of the 28-px presets (issue 18: unsupervised as good as supervised): the
# paper's, the invariance term, Q's consistency on real images, the weights' average and a final
# decay. Self-labelling is off: over MNIST seeds 0-5 it added nothing (docs/studies/mnist.md: "Levers tried
# against the weak seeds"); mnist-caps keeps it, as its studies were measured with it.
TOWARD_SUPERVISED = dict(epochs=3, invariance=1.0, consistency=1.0, self_label=0.0, ema=0.999, lr_decay=0.3)

# Each preset overrides TrainConfig's defaults; command-line flags override the preset.
PRESETS: dict[str, Preset] = {
    "mnist": Preset("the default: paper MNIST networks and codes (z62 + Cat(10) + 2 x U(-1,1), learned std) "
                    "+ the categorical code's invariance term, Q's consistency on real images, "
                    "the weights' average and a final learning-rate decay; 3 epochs; then relabelling "
                    "by the drawings (--refine-groups 50); bfloat16 forward passes on a CPU with "
                    "bfloat16 units (--amp auto)",
                    dict(dataset="mnist", latent="z62,cat10,cont2", **TOWARD_SUPERVISED, refine_groups=50,
                         amp="auto")),
    "mnist-paper": Preset("as the official code: uniform noise, fixed-std continuous codes, batch 128, ~5k steps",
                          dict(dataset="mnist", latent="z62:uniform,cat10,cont2:fixed", batch_size=128, epochs=12)),
    "fashion-mnist": Preset("the mnist preset's networks, codes and objective on Fashion-MNIST, the transformed "
                            "copies also darker or lighter (--brightness 1: the tops' categories otherwise "
                            "sort them by brightness); 5 epochs (the categories of 3, with samples much closer "
                            "to the real images); bfloat16 forward passes on a CPU with bfloat16 units (--amp auto: "
                            "over seeds 0-4 the same median and samples as float32, at ~1.6x the speed)",
                            dict(dataset="fashion-mnist", latent="z62,cat10,cont2",
                                 **{**TOWARD_SUPERVISED, "epochs": 5}, brightness=1.0, amp="auto")),
    "mnist-caps": Preset("InfoCapsGAN: the mnist preset's generator, codes and objective (self-labelling on) with a capsule D/Q "
                         "(class capsules by dynamic routing; Q's classes are capsule lengths); 7 epochs, as "
                         "the capsule Q sorts the digits more slowly",
                         dict(dataset="mnist", arch="caps", latent="z62,cat10,cont2",
                              **{**TOWARD_SUPERVISED, "self_label": 1.0, "epochs": 7})),
    "infocapsgan": Preset("InfoCapsGAN as published: CapsNet D/Q (9x9 conv 256, 1152 primary capsules, routed class "
                          "and real/fake capsules), the capsule G, noise + one 10-way code, its learning rates "
                          "(D 2e-5, G 2e-4) and batch 100",
                          dict(dataset="mnist", arch="capsnet", latent="z52,cat10", lr_d=2e-5, lr_g=2e-4,
                               batch_size=100, epochs=5)),
    "svhn": Preset("paper SVHN: 32x32x3, z124 + 4 x Cat(10) + 4 continuous, G from FC 2x2x448",
                   dict(dataset="svhn", arch="dcgan", image_size=32, channels=3,
                        latent="z124,cat10,cat10,cat10,cat10,cont4")),
    "celeba": Preset("paper CelebA: 32x32x3, z128 + 10 x Cat(10)",
                     dict(dataset="celeba", arch="dcgan", image_size=32, channels=3, latent="z128" + ",cat10" * 10)),
    "celeba-64": Preset("CelebA at 64x64 (one more up/down-sampling stage)",
                        dict(dataset="celeba", arch="dcgan", image_size=64, channels=3, latent="z128" + ",cat10" * 10)),
    "cifar10": Preset("CIFAR-10 32x32x3 with the SVHN networks, z128 + Cat(10) + 2 continuous",
                      dict(dataset="cifar10", arch="dcgan", image_size=32, channels=3, latent="z128,cat10,cont2")),
    "folder": Preset("any folder or zip of images (--data-dir); --image-size 32|64|128 picks depth and codes",
                     dict(dataset="folder", arch="dcgan", image_size=64, channels=3, latent=None)),
    "chairs": Preset("3D-chairs style (folder data): 64x64 gray, z128 + 3 x Cat(20) + 1 continuous",
                     dict(dataset="folder", arch="dcgan", image_size=64, channels=1, latent="z128,cat20,cat20,cat20,cont1")),
    "faces": Preset("3D-faces style (folder data): 32x32 gray, z128 + 5 continuous",
                    dict(dataset="folder", arch="dcgan", image_size=32, channels=1, latent="z128,cont5")),
    "dsprites": Preset("InfoGAN-CR on dSprites: 64x64x1, 5 continuous codes + 5 noise dimensions, InfoGAN-CR's "
                       "networks and settings, the contrastive regulariser for the last 11% of the run "
                       "(--dataset sprites: the procedural stand-in)",
                       dict(dataset="dsprites", arch="sprites", image_size=64, channels=1, latent="z5:uniform,cont5",
                            lambda_cont=0.05, lr_d=2e-3, lr_g=1e-3, epochs=1, cr=2.0, cr_start=0.89)),
    "tiny": Preset("1/8-width networks for tests and smoke runs",
                   dict(dataset="mnist", latent="z8,cat10,cont2", width=0.125, epochs=1, log_every=2, invariance=1.0,
                        ckpt_every=4, batch_size=16)),
}

# folder preset: richer codes for larger images (the paper's CelebA/chairs choices as a guide)
FOLDER_LATENT = {32: "z128,cat10,cont2", 64: "z128,cat10,cat10,cont3", 128: "z128,cat10,cat10,cat10,cont4"}


def resolve(preset: str, overrides: dict | None = None) -> TrainConfig:
    if preset not in PRESETS:
        raise InfoGANError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    values = {**PRESETS[preset].overrides, "preset": preset}
    values.update({k: of_its_type(k, v) for k, v in (overrides or {}).items() if v is not None})
    if values.get("latent") is None:  # folder data: codes chosen from the resolution
        values["latent"] = FOLDER_LATENT.get(values.get("image_size", 64), FOLDER_LATENT[64])
    cfg = TrainConfig(**values)
    validate(cfg)
    return cfg


KINDS = {"int": (numbers.Integral, int, "a whole number"), "float": (numbers.Real, float, "a number"),
         "str": ((str, os.PathLike), lambda v: str(os.fspath(v)), "a string"),  # (outdir=Path(...))
         "bool": (bool, bool, "True or False")}


def of_its_type(name: str, value):
    """An option's value as its field's type (numpy's numbers as Python's, which config.json can
    hold); a value of another type is an InfoGANError. The command line's are typed by argparse;
    the Python API's (train(epochs="3")) reached a comparison in validate() as a TypeError."""
    f = TrainConfig.__dataclass_fields__.get(name)
    if f is None:
        return value  # (an unknown option is named by the caller)
    kind, cast, words = KINDS[str(f.type).removesuffix(" | None")]
    if not isinstance(value, kind) or (isinstance(value, bool) and cast is not bool):
        raise InfoGANError(f"--{name.replace('_', '-')} takes {words}, not {value!r}")
    return cast(value)


def real_image_terms_on(cfg: TrainConfig) -> bool:
    """Whether one of REAL_IMAGE_TERMS is on; they need a categorical code as well (step.py)."""
    return max(getattr(cfg, name) for name in REAL_IMAGE_TERMS) > 0


def validate(cfg: TrainConfig) -> None:
    from . import nets
    from .augment import MAX_BLUR

    copies_read = cfg.invariance > 0 or real_image_terms_on(cfg)  # what the copies' options change
    real_readers, copy_readers = flag_list(REAL_IMAGE_TERMS), flag_list(("invariance",) + REAL_IMAGE_TERMS)
    checks = [
        (cfg.batch_size >= 2, "--batch-size must be >= 2 (batch norm needs two samples)"),
        (cfg.epochs >= 1, "--epochs must be >= 1"),
        (0 <= cfg.seed <= MAX_SEED, f"--seed must be in 0..{MAX_SEED}"),
        (cfg.max_steps is None or cfg.max_steps >= 1, "--max-steps must be >= 1"),
        (cfg.lr_d > 0 and cfg.lr_g > 0, "learning rates must be > 0"),
        (0 <= cfg.beta1 < 1 and 0 <= cfg.beta2 < 1, "Adam betas must be in [0, 1)"),
        (cfg.lambda_cat >= 0 and cfg.lambda_cont >= 0, "lambdas must be >= 0"),
        (cfg.invariance >= 0, "--invariance must be >= 0"),
        (0 <= cfg.erase < cfg.image_size and 0 <= cfg.fake_erase < cfg.image_size,
         "--erase and --fake-erase must be >= 0 and smaller than the image"),
        (cfg.erase == 0 or real_image_terms_on(cfg),
         f"--erase hides part of the real images' copies that {real_readers} read: turn one of them on"),
        (0 <= cfg.erase_start < 1, "--erase-start must be in [0, 1)"),
        (cfg.erase_start == 0 or cfg.erase > 0 or cfg.fake_erase > 0,
         "--erase-start delays --erase and --fake-erase: turn one of them on"),
        (cfg.fake_erase == 0 or cfg.invariance > 0,
         "--fake-erase hides part of the transformed fakes that --invariance reads: turn it on"),
        (cfg.brightness >= 0, "--brightness must be >= 0"),
        (cfg.brightness == 0 or copies_read,
         f"--brightness changes the transformed copies that {copy_readers} read: turn one of them on"),
        (cfg.gamma >= 0, "--gamma must be >= 0"),
        (cfg.gamma == 0 or copies_read,
         f"--gamma changes the transformed copies that {copy_readers} read: turn one of them on"),
        (0 <= cfg.blur <= MAX_BLUR, f"--blur must be in [0, {MAX_BLUR}] (pixels)"),
        (cfg.blur == 0 or copies_read,
         f"--blur changes the transformed copies that {copy_readers} read: turn one of them on"),
        (0 <= cfg.affine <= MAX_AFFINE, f"--affine must be in [0, {MAX_AFFINE:g}]"),
        (cfg.affine == 1 or copies_read,
         f"--affine changes the transformed copies that {copy_readers} read: turn one of them on"),
        (0 <= cfg.morph <= 1 and 0 <= cfg.flip <= 1, "--morph and --flip must be in [0, 1]"),
        (cfg.flip == 0 or copies_read,
         f"--flip mirrors the transformed copies that {copy_readers} read: turn one of them on"),
        (min(getattr(cfg, name) for name in REAL_IMAGE_TERMS) >= 0,
         f"{flag_list(REAL_IMAGE_TERMS, 'and')} must be >= 0"),
        (cfg.overcluster_k >= 2, "--overcluster-k must be >= 2"),
        (cfg.cover >= 0, "--cover must be >= 0"),
        (cfg.contrast_temperature > 0, "--contrast-temperature must be > 0"),
        (cfg.refine_groups == 0 or cfg.refine_groups >= 2, "--refine-groups must be 0 (off) or >= 2"),
        (0 <= cfg.refine_margin < 1, "--refine-margin must be in [0, 1)"),
        (cfg.neighbour_steps >= 0 and cfg.neighbour_entropy >= 0,
         "--neighbour-steps and --neighbour-entropy must be >= 0"),
        (0 <= cfg.q_fakes <= 1, "--q-fakes must be in [0, 1]"),
        (cfg.q_fakes == 1 or cfg.consistency > 0 or cfg.self_label > 0,
         "--q-fakes below 1 lets Q learn its classes from real images: turn on --consistency or --self-label"),
        (0 < cfg.self_label_threshold <= 1, "--self-label-threshold must be in (0, 1]"),
        (0 <= cfg.lr_decay <= 1 and 0 <= cfg.ema < 1, "--lr-decay must be in [0, 1] and --ema in [0, 1)"),
        (cfg.cr >= 0 and 0 <= cfg.cr_start < 1, "--cr must be >= 0 and --cr-start in [0, 1)"),
        (cfg.mimic is None or cfg.mimic >= 0, "--mimic must be >= 0 (the step it starts at)"),
        (cfg.width > 0, "--width must be > 0"),
        (cfg.threads is None or cfg.threads >= 1, "--threads must be >= 1"),
        (cfg.q_sharpness is None or cfg.q_sharpness > 0, "--q-sharpness must be > 0"),
        (cfg.log_every >= 1 and cfg.ckpt_every >= 1 and cfg.keep_ckpts >= 1, "intervals must be >= 1"),
        (cfg.ckpt_minutes >= 0 and cfg.max_rollbacks >= 0, "--ckpt-minutes and --max-rollbacks must be >= 0"),
        (cfg.device in ("auto", "cpu", "cuda") or cfg.device.startswith("cuda:"), f"unknown device {cfg.device!r}"),
    ]
    for f in options():
        value, choices = getattr(cfg, f.name), f.metadata["choices"]
        checks.append((choices is None or value in choices,
                       f"--{f.name.replace('_', '-')} must be one of {', '.join(map(str, choices or ()))}, not {value!r}"))
    for ok, msg in checks:
        if not ok:
            raise InfoGANError(msg)
    spec = LatentSpec.parse(cfg.latent)  # a bad --latent is named before a run folder is made (and by --dry-run)
    fam = nets.family(cfg.arch)
    fam.check_image_size(cfg.image_size)
    for flag, on in (("--refine-groups", cfg.refine_groups), ("--neighbour-steps", cfg.neighbour_steps)):
        if on and fam.capsule_q:
            raise InfoGANError(f"{flag} trains Q's fully connected head, which the {fam.name} networks' "
                               "capsule Q does not have")
        if on and not spec.categorical:
            raise InfoGANError(f"{flag} works on a categorical code and --latent has none: pass {flag} 0")
    if cfg.q_sharpness is not None and not fam.capsule_q:
        raise InfoGANError(f"--q-sharpness needs a capsule Q (--arch caps or capsnet), not the {fam.name} networks")
