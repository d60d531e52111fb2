import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from dct_keras.experiment.data import DatasetUnavailableError, channel_statistics, load_image_dataset, normalize

from tests.paths import SHARED_DATA as SHARED

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


def test_the_packaged_sample_is_the_real_archives_first_images():
    packaged = load_image_dataset("cifar100", path="sample")
    assert packaged.x_train.shape == (486, 32, 32, 3) and packaged.x_test.shape == (512, 32, 32, 3)
    assert packaged.num_classes == 100 and packaged.source == "the packaged cifar100 sample"
    if os.path.exists(SAMPLE):  # the same pixels and labels as the official-format archive
        archive = load_image_dataset(path=SAMPLE)
        np.testing.assert_array_equal(packaged.x_train, archive.x_train)
        np.testing.assert_array_equal(packaged.y_train, archive.y_train)
        np.testing.assert_array_equal(packaged.x_test, archive.x_test[:512])
        np.testing.assert_array_equal(packaged.y_test, archive.y_test[:512])
    with pytest.raises(DatasetUnavailableError, match="No sample of 'mnist'"):
        load_image_dataset("mnist", path="sample")


def test_a_quick_run_without_data_falls_back_to_the_packaged_sample(monkeypatch, capsys):
    from dct_keras.experiment import commands, data

    def offline(name, data_dir):
        raise DatasetUnavailableError("tensorflow_datasets has no local copy of cifar100 (offline?).")

    monkeypatch.setattr(data, "_load_tfds", offline)
    config = {"dataset": "cifar100", "quick": {"train_examples": 100, "test_examples": 50}}
    quick = type("Args", (), {"data": None, "quick": True, "budget": False})()
    dataset = commands._dataset(config, quick)
    assert len(dataset.x_train) == 100 and dataset.source.startswith("the packaged cifar100 sample")
    assert "runs on the packaged cifar100 sample" in capsys.readouterr().err
    full = type("Args", (), {"data": None, "quick": False, "budget": False})()
    with pytest.raises(DatasetUnavailableError, match="offline"):  # a real run never falls back to the sample
        commands._dataset(config, full)


def test_offline_tfds_fails_fast_with_options(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_datasets")
    from dct_keras.experiment import data

    monkeypatch.setattr(data, "_reachable", lambda *args, **kwargs: False)
    with pytest.raises(DatasetUnavailableError, match=r"no local copy of cifar100.*unreachable(.|\n)*--data"):
        load_image_dataset("cifar100", data_dir=str(tmp_path))


def _malicious_archive(path, marker):
    import io
    import pickle
    import tarfile

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    payload = pickle.dumps({b"data": Exploit()})
    with tarfile.open(path, "w:gz") as archive:
        for name in ("cifar-100-python/train", "cifar-100-python/test"):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))


def test_a_malicious_cifar_archive_runs_nothing(tmp_path):
    from dct_keras.experiment.data import DatasetUnavailableError, load_image_dataset

    marker = tmp_path / "pwned"
    archive = tmp_path / "cifar-100-python.tar.gz"
    _malicious_archive(archive, marker)
    with pytest.raises(DatasetUnavailableError, match=r"refused to load `(posix|nt|os)\.system`"):
        load_image_dataset(path=archive)
    assert not marker.exists()


@pytest.mark.parametrize("content,reason", [(b"", "the file is empty"), (b"PK\x03\x04garbage", "not a valid zip"),
                                            (bytes(range(7, 107)), "does not start as a zip file does")])
def test_unreadable_npz_is_named_without_pickle_advice(tmp_path, content, reason):
    from dct_keras.experiment.data import DatasetUnavailableError, load_image_dataset

    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(DatasetUnavailableError, match=reason) as error:
        load_image_dataset(path=path)
    assert "allow_pickle" not in str(error.value)


def test_pickled_arrays_in_npz_are_refused(tmp_path):
    from dct_keras.experiment.data import DatasetUnavailableError, load_image_dataset

    path = tmp_path / "objects.npz"
    objects = np.array([{"a": 1}], dtype=object)
    np.savez(path, x_train=objects, y_train=objects, x_test=objects, y_test=objects)
    with pytest.raises(DatasetUnavailableError, match="pickled Python objects, which are never loaded") as error:
        load_image_dataset(path=path)
    assert "allow_pickle" not in str(error.value)


def test_image_layout_and_size_checks():
    from dct_keras.experiment.data import DataShapeError, check_image_shape

    with pytest.raises(DataShapeError, match="channels-first"):
        check_image_shape((10, 3, 32, 32))
    with pytest.raises(DataShapeError, match=r"too small for resnet50, which needs sides of at least 16 px"):
        check_image_shape((10, 8, 8, 3), 16, 16, "resnet50")
    with pytest.raises(DataShapeError, match=r"multiples of 16 .*got 28x28.*e.g. to 32x32"):
        check_image_shape((10, 28, 28, 1), 16, 16, "resnet50")
    check_image_shape((10, 32, 32, 3), 16, 16, "resnet50")


def _npz(path, x_train, y_train, x_test=None, y_test=None):
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_train if x_test is None else x_test,
             y_test=y_train if y_test is None else y_test)
    return path


@pytest.mark.parametrize("labels,message", [
    (np.eye(10)[np.arange(8) % 10], r"one-hot rows \(8, 10\).*np.argmax\(y_train, axis=1\)"),
    (np.arange(8) - 1, r"negative labels \(min -1\)"),
    (np.arange(8) + 0.5, r"non-integer labels"),
    (np.ones((8, 3)), r"shape \(8, 3\); expected integer class ids"),
])
def test_labels_must_be_class_ids(tmp_path, labels, message):
    from dct_keras.experiment.data import DataShapeError

    path = _npz(tmp_path / "d.npz", np.zeros((8, 8, 8, 3), np.uint8), labels)
    with pytest.raises(DataShapeError, match=message):
        load_image_dataset(path=path)


def test_pixel_scales_are_read_or_refused(tmp_path):
    from dct_keras.experiment.data import DataShapeError

    unit = np.random.default_rng(0).random((8, 8, 8, 3)).astype("float32")
    with pytest.warns(UserWarning, match=r"float pixels in \[0, 1\]; read as uint8"):
        dataset = load_image_dataset(path=_npz(tmp_path / "unit.npz", unit, np.arange(8)))
    np.testing.assert_array_equal(dataset.x_train, np.round(unit * 255).astype(np.uint8))
    standardized = unit * 4 - 2
    with pytest.raises(DataShapeError, match="outside the pixel scales"):
        load_image_dataset(path=_npz(tmp_path / "std.npz", standardized, np.arange(8)))


def test_identity_follows_the_arrays_not_the_path():
    from dct_keras.experiment.data import ImageDataset

    x = np.zeros((4, 8, 8, 3), np.uint8)
    a = ImageDataset(x, np.arange(4), x, np.arange(4), "a.npz")
    b = ImageDataset(x.copy(), np.arange(4), x, np.arange(4), "elsewhere/b.npz")
    c = ImageDataset(x + 1, np.arange(4), x, np.arange(4), "a.npz")
    assert a.identity() == b.identity() != c.identity()
    assert a.subset(2).identity() != a.identity()


def _jpeg_npz(path, images, labels):
    from PIL import Image

    def concatenated(split):
        blobs = []
        for image in split:
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="JPEG", quality=95)
            blobs.append(np.frombuffer(buffer.getvalue(), np.uint8))
        return np.concatenate(blobs), np.cumsum([0] + [len(b) for b in blobs])

    (train, train_offsets), (test, test_offsets) = concatenated(images[:6]), concatenated(images[6:])
    np.savez(path, train_jpeg=train, train_offsets=train_offsets, y_train=labels[:6], test_jpeg=test,
             test_offsets=test_offsets, y_test=labels[6:])


def test_an_npz_of_jpeg_files_is_decoded(tmp_path):
    # Smooth images survive JPEG at quality 95 within a few levels.
    grid = np.linspace(0, 1, 32)
    images = np.stack([np.stack([np.outer(grid, grid) * 255 * (k + 1) / 8, np.tile(grid * 200, (32, 1)),
                                 np.full((32, 32), 20 * k)], axis=-1) for k in range(8)]).astype(np.uint8)
    _jpeg_npz(tmp_path / "j.npz", images, np.arange(8) % 3)
    dataset = load_image_dataset(path=tmp_path / "j.npz")
    assert dataset.x_train.shape == (6, 32, 32, 3) and dataset.x_test.shape == (2, 32, 32, 3)
    assert np.abs(np.concatenate([dataset.x_train, dataset.x_test]).astype(int) - images).mean() < 2
    np.testing.assert_array_equal(dataset.y_test, [0, 1])


def test_a_damaged_jpeg_is_named(tmp_path):
    images = np.zeros((8, 32, 32, 3), np.uint8)
    _jpeg_npz(tmp_path / "j.npz", images, np.zeros(8, int))
    arrays = dict(np.load(tmp_path / "j.npz"))
    arrays["test_jpeg"] = arrays["test_jpeg"][::-1].copy()
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DatasetUnavailableError, match="bad.npz: image 0 is not a readable JPEG"):
        load_image_dataset(path=tmp_path / "bad.npz")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(os.path.join(SHARED, "cifar10_full_jpeg.npz")), reason="../shared/data absent")
def test_the_full_cifar10_jpeg_copy_decodes_to_the_subsets_pixels():
    # The 10k subset was decoded from the same JPEG files by the data's own script: the first images agree exactly.
    full = load_image_dataset(path=os.path.join(SHARED, "cifar10_full_jpeg.npz"))
    with np.load(os.path.join(SHARED, "cifar10_subset.npz")) as subset:
        np.testing.assert_array_equal(full.x_train[:10_000], subset["x_train"])
        np.testing.assert_array_equal(full.y_test[:2_000], subset["y_test"])
    assert full.x_train.shape == (50_000, 32, 32, 3) and full.x_test.shape == (10_000, 32, 32, 3)


@pytest.mark.parametrize("name,shape,classes", [("cifar100", (32, 32, 3), 100), ("cifar10", (32, 32, 3), 10),
                                                ("mnist", (28, 28, 1), 10)])
def test_the_tensorflow_datasets_branch_reads_tfds_mock_data(name, shape, classes, monkeypatch):
    # No --data: the real tensorflow_datasets code path, on tfds's own mock data (only the network probe is stubbed).
    tfds = pytest.importorskip("tensorflow_datasets")
    from dct_keras.experiment import data

    monkeypatch.setattr(data, "_reachable", lambda *args, **kwargs: True)
    with tfds.testing.mock_data(num_examples=20, policy=tfds.testing.MockPolicy.USE_CODE):
        dataset = load_image_dataset(name)
    assert dataset.x_train.shape == (20, *shape) and dataset.x_test.shape == (20, *shape)
    assert dataset.x_train.dtype == np.uint8 and dataset.y_train.dtype == np.int64 and dataset.source == f"tfds:{name}"
    assert 0 <= dataset.y_train.min() and dataset.y_train.max() < classes


@pytest.mark.slow
def test_the_main_job_runs_its_quick_tier_through_tensorflow_datasets(monkeypatch, tmp_path, capsys):
    # `python reproductions/problem1_resnet50.py --quick` as on a GPU machine with internet, on tfds's mock CIFAR-100.
    tfds = pytest.importorskip("tensorflow_datasets")
    from dct_keras.experiment import data
    from dct_keras.experiment.commands import main

    monkeypatch.setattr(data, "_reachable", lambda *args, **kwargs: True)
    with tfds.testing.mock_data(num_examples=64, policy=tfds.testing.MockPolicy.USE_CODE):
        main(["run", "problem1_resnet50", "--quick", "--switch-off", "plain", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "images of tfds:cifar100" in out and (tmp_path / "table.md").exists()
