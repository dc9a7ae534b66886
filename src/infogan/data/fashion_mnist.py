"""Fashion-MNIST (Xiao et al. 2017): Zalando's clothing images in MNIST's format and sizes."""

from .base import IdxDataset
from .fetch import debian_package_files

FASHION_MNIST = IdxDataset(
    name="fashion-mnist",
    help="clothing, 28x28 gray, 60,000 train + 10,000 test, 10 classes",
    files={
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
    mirrors=["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"],
    registry_sources=[debian_package_files("dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist")],
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
)
