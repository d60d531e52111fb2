import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from dct_keras.data import DatasetUnavailableError, channel_statistics, load_image_dataset, normalize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "data")
SAMPLE = os.path.join(SHARED, "cifar-100-python-sample.tar.gz")


def _write_cifar100_archive(path, rng, n_train=20, n_test=10):
    """A small archive in the official cifar-100-python layout."""
    splits = {}
    with tarfile.open(path, "w:gz") as archive:
        for name, n in (("train", n_train), ("test", n_test)):
            data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
            labels = rng.integers(0, 100, n).tolist()
            splits[name] = (data, labels)
            raw = pickle.dumps({b"data": data, b"fine_labels": labels, b"coarse_labels": [0] * n})
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
    return splits


def test_official_archive_layout(tmp_path, rng):
    path = tmp_path / "cifar-100-python.tar.gz"
    splits = _write_cifar100_archive(path, rng)
    dataset = load_image_dataset(path=path)
    assert dataset.x_train.shape == (20, 32, 32, 3) and dataset.x_test.shape == (10, 32, 32, 3)
    # CHW rows -> HWC images: red plane first in the official format.
    np.testing.assert_array_equal(dataset.x_train[3, :, :, 0].ravel(), splits["train"][0][3, :1024])
    np.testing.assert_array_equal(dataset.y_test, splits["test"][1])
    # the extracted folder works the same
    with tarfile.open(path) as archive:
        archive.extractall(tmp_path / "x", filter="data")
    folder = load_image_dataset(path=tmp_path / "x" / "cifar-100-python")
    np.testing.assert_array_equal(folder.x_train, dataset.x_train)


def test_npz_and_classes_follow_data(tmp_path, rng):
    path = tmp_path / "d.npz"
    np.savez(path, x_train=rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8), y_train=np.arange(8) % 10,
             x_test=rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8), y_test=np.array([0, 1, 2, 9]))
    dataset = load_image_dataset(path=path)
    assert dataset.num_classes == 10
    sub = dataset.subset(train=3, test=2)
    assert len(sub.x_train) == 3 and len(sub.y_test) == 2


def test_missing_path_lists_options(tmp_path):
    with pytest.raises(DatasetUnavailableError, match=r"cifar-100-python\.tar\.gz.*\n.*folder.*\n.*npz"):
        load_image_dataset(path=tmp_path / "nope.tar.gz")


def test_npz_missing_arrays(tmp_path):
    np.savez(tmp_path / "bad.npz", x_train=np.zeros((1, 2, 2, 3)))
    with pytest.raises(DatasetUnavailableError, match="lacks arrays"):
        load_image_dataset(path=tmp_path / "bad.npz")


def test_normalization_eq4(rng):
    x = rng.integers(0, 256, (50, 4, 4, 3)).astype(np.uint8)
    mean, std = channel_statistics(x)
    z = normalize(x, mean, std)
    np.testing.assert_allclose(z.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 1, 2)), 1, atol=1e-4)


@pytest.mark.skipif(not os.path.exists(SAMPLE), reason="../shared/data sample absent")
def test_real_cifar100_sample():
    dataset = load_image_dataset(path=SAMPLE)
    assert dataset.x_train.shape == (486, 32, 32, 3) and dataset.x_test.shape == (916, 32, 32, 3)
    assert dataset.x_train.dtype == np.uint8 and dataset.num_classes == 100


def test_offline_tfds_fails_fast_with_options(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_datasets")
    from dct_keras import data

    monkeypatch.setattr(data, "_reachable", lambda *args, **kwargs: False)
    with pytest.raises(DatasetUnavailableError, match=r"no local copy of cifar100.*unreachable(.|\n)*--data"):
        load_image_dataset("cifar100", data_dir=str(tmp_path))
