"""Image datasets for the reproductions: loading, normalization, pipelines.

Sources, in order (`load_image_dataset`):

1. ``path`` given: a local file, and the network is never touched —
   * an official ``cifar-100-python.tar.gz`` / ``cifar-10-python.tar.gz``
     archive, or its extracted folder (pickled batches);
   * an ``.npz`` with ``x_train``, ``y_train``, ``x_test``, ``y_test``
     (images ``N x H x W x C`` or ``N x H x W`` uint8; e.g. a CIFAR-10 or MNIST file),
     or with the splits as JPEG files (``train_jpeg`` / ``train_offsets``,
     ``test_jpeg`` / ``test_offsets``; decoded with Pillow, e.g. the full
     CIFAR-10 of ``../shared/data/cifar10_full_jpeg.npz``).
2. no ``path``: `tensorflow_datasets`, from its local cache if the dataset
   was prepared before, else downloaded — after a quick reachability check, so
   that an offline machine fails in seconds instead of retrying for minutes.
3. otherwise a `DatasetUnavailableError` listing these options.

The number of classes follows the data (``max(label) + 1`` over both splits).
"""

import dataclasses
import hashlib
import io
import os
import pickle
import socket
import tarfile
import warnings
import zipfile

import numpy as np

from dct_keras.files import describe_npz_error

TFDS_NAMES = {"cifar100": "cifar100", "cifar10": "cifar10", "mnist": "mnist"}
# Where tfds downloads each dataset from; probed before a download is tried.
_DOWNLOAD_HOSTS = {"cifar100": "www.cs.toronto.edu", "cifar10": "www.cs.toronto.edu", "mnist": "storage.googleapis.com"}


class DatasetUnavailableError(RuntimeError):
    """No source could provide the dataset; the message lists the options."""


def _sample(size, count, seed):
    """Sorted indices of ``count`` of ``size`` items drawn with ``seed`` (all when None or >= size)."""
    if count is None or count >= size:
        return np.arange(size)
    return np.sort(np.random.default_rng(seed).choice(size, count, replace=False))


@dataclasses.dataclass
class ImageDataset:
    """A train / test split of images (uint8, ``N x H x W x C``) and int labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    @property
    def num_classes(self):
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    def subset(self, train=None, test=None, seed=0):
        """``train`` / ``test`` examples of each split (None or at least the
        split's size: all of it): a seeded sample kept in file order, so a
        file sorted by class (Imagenette) still gives every class."""
        train_index, test_index = _sample(len(self.x_train), train, seed), _sample(len(self.x_test), test, seed + 1)
        if len(train_index) == len(self.x_train) and len(test_index) == len(self.x_test):
            return self
        return ImageDataset(
            self.x_train[train_index], self.y_train[train_index], self.x_test[test_index], self.y_test[test_index],
            f"{self.source} ({len(train_index)} train / {len(test_index)} test, sample seed {seed})",
        )

    def identity(self):
        """What determines a result computed on this data: the split sizes,
        the image shape and a SHA-256 of the four arrays' bytes (so a
        different file, subset or decoding never matches, while the same
        arrays under another path do)."""
        digest = hashlib.sha256()
        for array in (self.x_train, self.y_train, self.x_test, self.y_test):
            array = np.ascontiguousarray(array)
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(memoryview(array).cast("B"))
        return {
            "train_examples": int(len(self.x_train)),
            "test_examples": int(len(self.x_test)),
            "image_shape": list(self.x_train.shape[1:]),
            "sha256": digest.hexdigest()[:16],
        }

    def check_images(self, min_size=1, multiple=1, model="the network"):
        """Raises `DataShapeError` unless the images are channels-last with
        both sides >= ``min_size`` and divisible by ``multiple``."""
        check_image_shape(self.x_train.shape, min_size, multiple, model, self.source)


class DataShapeError(ValueError):
    """Images of a layout or size the chosen network cannot use."""


def check_image_shape(shape, min_size=1, multiple=1, model="the network", source="the data"):
    """Checks an ``N x H x W x C`` image array shape (channels last).

    Channels-first arrays (``N x C x H x W`` with C in 1, 3, 4 and a larger last
    axis) are named as such; images smaller than ``min_size`` or not divisible
    by ``multiple`` (the network's total downsampling) are rejected with the
    size the network needs.
    """
    shape = tuple(int(d) for d in shape)
    if len(shape) != 4:
        raise DataShapeError(f"{source}: expected images of shape (N, height, width, channels), got an array of shape {shape}.")
    _, height, width, channels = shape
    if height in (1, 3, 4) and channels not in (1, 3, 4):
        raise DataShapeError(
            f"{source}: the images look channels-first {shape} (N, channels, height, width); dct_keras expects "
            f"channels-last (N, height, width, channels). Convert them with np.transpose(x, (0, 2, 3, 1))."
        )
    if min(height, width) < min_size:
        raise DataShapeError(f"{source}: images of {height}x{width} are too small for {model}, which needs sides of at "
                             f"least {min_size} px (multiples of {multiple}).")
    if height % multiple or width % multiple:
        raise DataShapeError(f"{source}: {model} needs image sides that are multiples of {multiple} (its downsampling), "
                             f"got {height}x{width}; pad or resize them, e.g. to "
                             f"{-(-height // multiple) * multiple}x{-(-width // multiple) * multiple}.")


SAMPLES = {"cifar100": os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "samples",
                                    "cifar100_sample.npz")}


def load_image_dataset(name="cifar100", path=None, data_dir=None):
    """Loads ``name`` from ``path`` (a local archive, folder or .npz), the
    packaged sample (``path="sample"``) or tfds.

    Args:
        name: "cifar100", "cifar10" or "mnist" (used when ``path`` is None).
        path: local data; when given, the network is never used.
        data_dir: tfds data directory (default: tfds's own).

    Raises:
        DatasetUnavailableError: with the list of accepted sources.
    """
    if path == "sample":
        return load_sample(name)
    if path is not None:
        return _load_local(os.fspath(path))
    return _load_tfds(name, data_dir)


def load_sample(name):
    """The small real sample of ``name`` shipped with the package
    (`dct_keras/samples/`: 486 train / 512 test CIFAR-100 images)."""
    if name not in SAMPLES:
        raise DatasetUnavailableError(f"No sample of {name!r} ships with dct_keras (samples: {sorted(SAMPLES)}).\n"
                                      + _options(name))
    dataset = _load_npz(SAMPLES[name])
    return dataclasses.replace(dataset, source=f"the packaged {name} sample")


def _options(name):
    return (
        f"Provide {name} in one of these ways:\n"
        "  --data PATH/cifar-100-python.tar.gz   the official archive (or cifar-10-python.tar.gz)\n"
        "  --data PATH/cifar-100-python          the extracted archive folder\n"
        "  --data PATH/data.npz                  arrays x_train, y_train, x_test, y_test\n"
        + (f"  --data sample                         the packaged {name} sample (a smoke test: too small to learn)\n"
           if name in SAMPLES else "")
        + "  (no --data)                           tensorflow_datasets"
        + (f" '{TFDS_NAMES[name]}'" if name in TFDS_NAMES else "") + ", from its cache or by download (needs internet)"
    )


def _load_local(path):
    if not os.path.exists(path):
        raise DatasetUnavailableError(f"Data path {path!r} does not exist.\n" + _options("the dataset"))
    if path.endswith(".npz"):
        return _load_npz(path)
    try:
        if os.path.isdir(path):
            return _load_pickled(_DirectoryReader(path), path)
        if tarfile.is_tarfile(path):
            with tarfile.open(path) as archive:
                return _load_pickled(_TarReader(archive), path)
    except DatasetUnavailableError as error:
        raise DatasetUnavailableError(f"{path}: {error}") from None
    except (pickle.UnpicklingError, tarfile.TarError, EOFError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise DatasetUnavailableError(
            f"{path} is not a readable CIFAR archive ({type(error).__name__}: {error}).\n" + _options("the dataset")
        ) from None
    raise DatasetUnavailableError(f"Unrecognized data file {path!r}.\n" + _options("the dataset"))


def _load_npz(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            if JPEG_ARRAYS <= set(data.files):
                arrays = [decode_jpegs(data["train_jpeg"], data["train_offsets"], path), data["y_train"],
                          decode_jpegs(data["test_jpeg"], data["test_offsets"], path), data["y_test"]]
            else:
                missing = {"x_train", "y_train", "x_test", "y_test"} - set(data.files)
                if missing:
                    raise DatasetUnavailableError(f"{path} lacks arrays {sorted(missing)}.\n" + _options("the dataset"))
                arrays = [data[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    except (EOFError, OSError, ValueError, zipfile.BadZipFile) as error:
        raise DatasetUnavailableError(f"{path} is not a readable .npz file ({describe_npz_error(error, path)}).\n"
                                      + _options("the dataset")) from None
    x_train, y_train, x_test, y_test = arrays
    if x_train.ndim == 3:  # grayscale N x H x W
        x_train, x_test = x_train[..., None], x_test[..., None]
    return ImageDataset(pixels(x_train, path, "x_train"), class_ids(y_train, path, "y_train"),
                        pixels(x_test, path, "x_test"), class_ids(y_test, path, "y_test"), path)


# An .npz of JPEG-compressed images (e.g. ../shared/data/cifar10_full_jpeg.npz): each split's files
# concatenated in one uint8 array, with N + 1 offsets, and the labels.
JPEG_ARRAYS = {"train_jpeg", "train_offsets", "y_train", "test_jpeg", "test_offsets", "y_test"}


def decode_jpegs(blob, offsets, path):
    """The images of a concatenated JPEG array as ``N x H x W x 3`` uint8
    (Pillow, RGB); all images must share one size."""
    from PIL import Image, UnidentifiedImageError

    images = []
    try:
        for start, end in zip(offsets[:-1], offsets[1:]):
            with Image.open(io.BytesIO(blob[start:end].tobytes())) as image:
                images.append(np.asarray(image.convert("RGB")))
        return np.stack(images)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise DatasetUnavailableError(f"{path}: image {len(images)} is not a readable JPEG, or the images differ in "
                                      f"size ({error}).") from None


def class_ids(labels, path, name):
    """``labels`` as int64 class ids (N,), or a `DataShapeError` naming the
    file, the array and the fix: one-hot rows, negative or fractional labels."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] > 1:
        if np.all((labels == 0) | (labels == 1)) and np.all(labels.sum(axis=1) == 1):
            raise DataShapeError(f"{path}: `{name}` holds one-hot rows {labels.shape}; dct_keras expects integer class ids "
                                 f"(N,). Convert them with np.argmax({name}, axis=1).")
        raise DataShapeError(f"{path}: `{name}` has shape {labels.shape}; expected integer class ids of shape (N,).")
    labels = labels.reshape(-1)
    if labels.size and (not np.all(np.isfinite(labels)) or not np.all(labels == np.round(labels))):
        raise DataShapeError(f"{path}: `{name}` holds non-integer labels (e.g. {labels[labels != np.round(labels)][:1]}); "
                             "expected integer class ids 0 .. classes - 1.")
    if labels.size and labels.min() < 0:
        raise DataShapeError(f"{path}: `{name}` holds negative labels (min {labels.min():g}); expected class ids "
                             "0 .. classes - 1 (relabel, e.g. with np.unique(labels, return_inverse=True)[1]).")
    return labels.astype("int64")


def pixels(images, path, name):
    """``images`` as uint8 pixels: uint8 as they are; floats in [0, 1] are
    scaled by 255 (said in a warning); anything else is refused naming the fix."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    if np.issubdtype(images.dtype, np.integer) and images.size and images.min() >= 0 and images.max() <= 255:
        return images.astype(np.uint8)
    if np.issubdtype(images.dtype, np.floating) and images.size and np.all(np.isfinite(images)):
        low, high = float(images.min()), float(images.max())
        if low >= 0 and high <= 1:
            warnings.warn(f"{path}: `{name}` holds float pixels in [0, 1]; read as uint8 pixels (x 255, rounded).",
                          stacklevel=3)
            return np.round(images * 255).astype(np.uint8)
        if low >= 0 and high <= 255 and np.all(images == np.round(images)):
            return images.astype(np.uint8)
    raise DataShapeError(f"{path}: `{name}` holds {images.dtype} values outside the pixel scales dct_keras reads "
                         "(uint8 0-255, or floats in [0, 1]); save the images as uint8 pixels.")


class _DirectoryReader:
    def __init__(self, root):
        self.root = root

    def names(self):
        return [os.path.relpath(os.path.join(d, f), self.root) for d, _, files in os.walk(self.root) for f in files]

    def read(self, name):
        with open(os.path.join(self.root, name), "rb") as f:
            return f.read()


class _TarReader:
    def __init__(self, archive):
        self.archive = archive

    def names(self):
        return [m.name for m in self.archive.getmembers() if m.isfile()]

    def read(self, name):
        return self.archive.extractfile(name).read()


def _load_pickled(reader, path):
    """The official python-pickle CIFAR layouts (CIFAR-100 or CIFAR-10)."""
    by_base = {os.path.basename(n): n for n in reader.names()}
    if "train" in by_base and "test" in by_base:  # cifar-100-python
        train, test = [_unpickle(reader.read(by_base[k])) for k in ("train", "test")]
        label_key = b"fine_labels"
    elif "test_batch" in by_base:  # cifar-10-batches-py
        batches = sorted(k for k in by_base if k.startswith("data_batch_"))
        parts = [_unpickle(reader.read(by_base[k])) for k in batches]
        train = {b"data": np.concatenate([p[b"data"] for p in parts]), b"labels": sum((list(p[b"labels"]) for p in parts), [])}
        test = _unpickle(reader.read(by_base["test_batch"]))
        label_key = b"labels"
    else:
        raise DatasetUnavailableError(f"{path} holds no CIFAR 'train'/'test' pickles.\n" + _options("the dataset"))

    def images(split):
        return np.asarray(split[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)

    return ImageDataset(
        images(train), np.asarray(train[label_key], np.int64), images(test), np.asarray(test[label_key], np.int64), path
    )


class UnsafePickleError(DatasetUnavailableError):
    """A pickled batch holds something other than plain data."""


class _DataOnlyUnpickler(pickle.Unpickler):
    """Unpickler for the official CIFAR batches: plain containers, bytes,
    strings, numbers and NumPy array reconstruction; any other class or
    function (e.g. ``os.system`` in a crafted archive) is refused before it
    is looked up, so nothing in the file can run."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"refused to load `{module}.{name}` from a pickled batch: the official CIFAR files hold only "
            "dicts, lists, bytes, strings, numbers and arrays, so this file is not one of them (possibly malicious)."
        )


def _unpickle(raw):
    return _DataOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()


def _load_tfds(name, data_dir):
    if name not in TFDS_NAMES:
        raise DatasetUnavailableError(f"Unknown dataset {name!r}; known: {sorted(TFDS_NAMES)}.")
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise DatasetUnavailableError(f"tensorflow_datasets is not installed ({error}).\n" + _options(name)) from None
    builder = tfds.builder(TFDS_NAMES[name], data_dir=data_dir)
    if not _tfds_prepared(builder):
        host = _DOWNLOAD_HOSTS[name]
        if not _reachable(host):
            raise DatasetUnavailableError(
                f"tensorflow_datasets has no local copy of {name} and {host} is unreachable (offline?).\n" + _options(name)
            )
        builder.download_and_prepare()
    # Each split as one batch of every example (tfds's batch_size=-1 needs the split sizes of the metadata).
    train, test = (next(iter(tfds.as_numpy(split.batch(1 << 30)))) for split in
                   builder.as_dataset(split=["train", "test"], as_supervised=True))
    (x_train, y_train), (x_test, y_test) = train, test
    return ImageDataset(x_train, y_train.astype("int64"), x_test, y_test.astype("int64"), f"tfds:{name}")


def _tfds_prepared(builder):
    try:
        return bool(builder.info.splits) and builder.info.splits["train"].num_examples > 0 and os.path.isdir(builder.data_dir)
    except Exception:  # noqa: BLE001 - tfds raises assorted errors for missing data
        return False


def _reachable(host, port=443, timeout=3.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def channel_statistics(x_train):
    """Per-channel mean and std of the training images (dct_conv.txt eq. 4)."""
    x = x_train.astype("float64")
    axes = tuple(range(x.ndim - 1))
    return x.mean(axis=axes), x.std(axis=axes)


def normalize(x, mean, std):
    """Eq. (4): ``(I[i, j, c] - mean_c) / std_c`` as float32."""
    return ((x.astype("float32") - mean.astype("float32")) / std.astype("float32")).astype("float32")


def to_unit_range(x):
    """Pixels in [0, 1] as float32 (the autoencoders' inputs and targets)."""
    return x.astype("float32") / 255.0


@dataclasses.dataclass
class PreparedData:
    """Model-ready arrays: normalized inputs and targets of both splits."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    source: str
    identity: dict = None


def prepare_data(config, dataset, requirements=()):
    """Classifiers: eq. (4) per-channel normalization with training statistics,
    integer labels. Autoencoders: the targets (and the MSE) are pixels in
    [0, 1]; the inputs are eq. (4)-normalized (dct_conv.txt §V-A, config
    ``input_normalization: "eq4"``, the default) or the same [0, 1] pixels
    (``"unit"``).

    ``requirements``: ``(model name, (minimum side, divisor))`` pairs (a
    method's `input_requirements`); images a network cannot use are rejected
    first (`DataShapeError`).
    """
    dataset.check_images()
    for model_name, (min_size, multiple) in requirements:
        dataset.check_images(min_size, multiple, model=model_name)
    identity = dataset.identity()
    mean, std = channel_statistics(dataset.x_train)
    if config["task"] == "classification":
        return PreparedData(
            normalize(dataset.x_train, mean, std), dataset.y_train,
            normalize(dataset.x_test, mean, std), dataset.y_test, dataset.num_classes, dataset.source, identity,
        )
    y_train, y_test = to_unit_range(dataset.x_train), to_unit_range(dataset.x_test)
    if config.get("input_normalization", "eq4") == "eq4":
        x_train, x_test = normalize(dataset.x_train, mean, std), normalize(dataset.x_test, mean, std)
    else:
        x_train, x_test = y_train, y_test
    return PreparedData(x_train, y_train, x_test, y_test, dataset.num_classes, dataset.source, identity)


def normalize_like(dataset, mode):
    """The function that feeds images of ``dataset`` to a model: eq. (4) with
    its training statistics (``"eq4"``), pixels in [0, 1] (``"unit"``) or as
    stored, as float32 (``"raw"``)."""
    if mode == "eq4":
        mean, std = channel_statistics(dataset.x_train)
        return lambda x: normalize(x, mean, std)
    if mode == "unit":
        return to_unit_range
    return lambda x: x.astype("float32")
