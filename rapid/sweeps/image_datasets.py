"""Image classification data for the CNN trainable, read from each dataset's standard files.

Nothing downloads at run time: a cluster has the files at `data_dir`, as their publishers
distribute them. scikit-learn's 8x8 digits ship with scikit-learn and need no files.
- MNIST: `train-images-idx3-ubyte` and `train-labels-idx1-ubyte` (IDX format, optionally .gz)
- CIFAR-10: the python batches `data_batch_1` .. `data_batch_5` (in `data_dir` or its
  `cifar-10-batches-py/`)
- SVHN: `train_32x32.mat` (MATLAB; X is 32x32x3xN, label 10 stands for digit 0)
"""

import gzip
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# name -> ((channels, side, side), classes)
SHAPES = {"digits": ((1, 8, 8), 10), "mnist": ((1, 28, 28), 10), "cifar10": ((3, 32, 32), 10), "svhn": ((3, 32, 32), 10)}


@dataclass(frozen=True)
class ImageData:
    """Training images as float32 (N, C, H, W) in [0, 1] and int64 labels."""

    images: np.ndarray
    labels: np.ndarray


def dataset_shape(name: str) -> tuple[tuple[int, int, int], int]:
    if not isinstance(name, str) or name not in SHAPES:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(SHAPES)}")
    return SHAPES[name]


def _open(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (MNIST): magic 0x0000 08 <ndim>, big-endian dimensions, then unsigned bytes."""
    data = _open(path)
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4).astype(int)
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _first(data_dir: Path, names: list[str]) -> Path | None:
    return next((data_dir / n for n in names if (data_dir / n).is_file()), None)


def _mnist_files(data_dir: Path) -> dict[str, Path | None]:
    stems = {"images": "train-images-idx3-ubyte", "labels": "train-labels-idx1-ubyte"}
    return {k: _first(data_dir, [s, f"{s}.gz"]) for k, s in stems.items()}


def _cifar_files(data_dir: Path) -> dict[str, Path | None]:
    folder = data_dir / "cifar-10-batches-py"
    folder = folder if folder.is_dir() else data_dir
    return {f"data_batch_{i}": _first(folder, [f"data_batch_{i}"]) for i in range(1, 6)}


def _svhn_files(data_dir: Path) -> dict[str, Path | None]:
    return {"train_32x32.mat": _first(data_dir, ["train_32x32.mat"])}


def _load_mnist(files: dict[str, Path]) -> ImageData:
    images, labels = read_idx(files["images"]), read_idx(files["labels"])
    return ImageData(images[:, None].astype(np.float32) / 255.0, labels.astype(np.int64))


def _load_cifar(files: dict[str, Path]) -> ImageData:
    batches = [pickle.loads(path.read_bytes(), encoding="bytes") for path in files.values()]
    images = np.concatenate([np.asarray(b[b"data"], dtype=np.uint8) for b in batches]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([np.asarray(b[b"labels"], dtype=np.int64) for b in batches])
    return ImageData(images.astype(np.float32) / 255.0, labels)


def _load_svhn(files: dict[str, Path]) -> ImageData:
    import scipy.io  # scipy and scikit-learn load only when a dataset is read, not in every rapid process

    mat = scipy.io.loadmat(files["train_32x32.mat"])
    images = np.transpose(mat["X"], (3, 2, 0, 1)).astype(np.float32) / 255.0
    return ImageData(images, mat["y"].reshape(-1).astype(np.int64) % 10)


def _load_digits(files: dict[str, Path]) -> ImageData:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return ImageData(digits.images[:, None].astype(np.float32) / 16.0, digits.target.astype(np.int64))


# name -> (files it needs in data_dir, reader)
READERS: dict[str, tuple[Callable[[Path], dict[str, Path | None]], Callable[[dict[str, Path]], ImageData]]] = {
    "digits": (lambda data_dir: {}, _load_digits),
    "mnist": (_mnist_files, _load_mnist),
    "cifar10": (_cifar_files, _load_cifar),
    "svhn": (_svhn_files, _load_svhn),
}


def missing_files(name: str, data_dir: str | None) -> list[str]:
    """The files `name` needs that are not at `data_dir` (all of them when data_dir is unset)."""
    dataset_shape(name)
    files = READERS[name][0](Path(data_dir or "."))
    return [k for k, path in files.items() if data_dir is None or path is None]


def load_dataset(name: str, data_dir: str | None = None) -> ImageData:
    """The training images of `name`; a ValueError names the files missing from `data_dir`."""
    missing = missing_files(name, data_dir)
    if missing:
        raise ValueError(f"dataset {name}: no {', '.join(missing)} in data_dir {data_dir!r}")
    find, read = READERS[name]
    data = read(find(Path(data_dir or ".")))
    expected, _ = SHAPES[name]
    if data.images.shape[1:] != expected:
        raise ValueError(f"dataset {name} at {data_dir}: images are {data.images.shape[1:]}, expected {expected}")
    return data


def validation_split(labels: np.ndarray, size: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices, the validation set class-balanced (size // classes per class)
    and the same for every trial, so that networks are compared on the same images."""
    rng = np.random.default_rng(seed)
    per_class = size // classes
    held = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in range(classes)]
    validation = np.sort(np.concatenate(held))
    train = np.setdiff1d(np.arange(len(labels)), validation)
    return train, validation
