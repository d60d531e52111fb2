import numpy as np
import pytest
import scipy.fft
from keras import ops

from dct_keras.spectral import SpectralTransform, dct_matrix, dctn, idctn


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16, 33])
def test_dct_matrix_is_scipy_orthonormal_dct(n):
    expected = scipy.fft.dct(np.eye(n), axis=0, norm="ortho")
    np.testing.assert_allclose(dct_matrix(n), expected, atol=1e-12)
    np.testing.assert_allclose(dct_matrix(n) @ dct_matrix(n).T, np.eye(n), atol=1e-12)


@pytest.mark.parametrize(
    "shape,axes",
    [
        ((5,), None),
        ((3, 3), None),
        ((3, 3, 8, 4), (0, 1)),
        ((4, 5, 6, 7), (1, 3)),
        ((4, 5, 6, 7), (0, 1, 2, 3)),
        ((2, 9, 3), (2,)),
        ((7, 1, 5), (0, 1, 2)),
        ((3, 4, 5), (-1, 0)),
    ],
)
def test_nd_transforms_match_scipy(rng, shape, axes):
    x = rng.standard_normal(shape).astype("float32")
    np.testing.assert_allclose(
        ops.convert_to_numpy(idctn(x, axes)), scipy.fft.idctn(x, axes=axes, norm="ortho"), atol=1e-5
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(dctn(x, axes)), scipy.fft.dctn(x, axes=axes, norm="ortho"), atol=1e-5
    )


def _blockwise_scipy(x, axis, block, inverse):
    fn = scipy.fft.idct if inverse else scipy.fft.dct
    parts = [
        fn(part, axis=axis, norm="ortho")
        for part in np.split(x, range(block, x.shape[axis], block), axis=axis)
    ]
    return np.concatenate(parts, axis=axis)


@pytest.mark.parametrize("channels,block", [(64, 16), (37, 16), (16, 16), (5, 16), (10, 3), (8, 1)])
def test_blocked_transform_matches_scipy_per_block(rng, channels, block):
    shape = (1, 1, channels, 6)
    x = rng.standard_normal(shape).astype("float32")
    transform = SpectralTransform(shape, (2,), {2: block})
    np.testing.assert_allclose(
        ops.convert_to_numpy(transform.inverse(x)), _blockwise_scipy(x, 2, block, True), atol=1e-5
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(transform.forward(x)), _blockwise_scipy(x, 2, block, False), atol=1e-5
    )


def test_forward_inverts_inverse_and_preserves_energy(rng):
    shape = (3, 3, 21, 5)
    x = rng.standard_normal(shape).astype("float32")
    for transform in (SpectralTransform(shape, (0, 1)), SpectralTransform(shape, (2,), {2: 16})):
        coefficients = transform.forward(x)
        np.testing.assert_allclose(ops.convert_to_numpy(transform.inverse(coefficients)), x, atol=1e-5)
        np.testing.assert_allclose(
            float(ops.sum(coefficients**2)), float(np.sum(x**2)), rtol=1e-5
        )


def test_empty_axes_is_identity(rng):
    x = rng.standard_normal((1, 1, 4, 3)).astype("float32")
    transform = SpectralTransform(x.shape, ())
    assert transform.is_identity
    np.testing.assert_array_equal(ops.convert_to_numpy(transform.inverse(x)), x)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(shape=(3, 3), axes=(2,)), "out of range"),
        (dict(shape=(3, 3), axes=(0, 0)), "repeated"),
        (dict(shape=(3, 3), axes=(0,), block_sizes={1: 2}), "not transformed"),
        (dict(shape=(3, 3), axes=(0,), block_sizes={0: 0}), "positive"),
    ],
)
def test_bad_transform_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SpectralTransform(**kwargs)


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match="shape"):
        SpectralTransform((3, 3), (0,)).inverse(np.zeros((3, 4), "float32"))


def test_dct_matrix_rejects_bad_length():
    with pytest.raises(ValueError, match="positive"):
        dct_matrix(0)


@pytest.mark.parametrize("shape,axes,extents", [((3, 3, 20, 30), (0, 1, 2, 3), (3, 3, 7, 11)), ((40, 9), (0, 1), (5, 9)), ((6, 50), (1,), (6, 4))])
def test_truncated_inverse_reads_only_the_box(rng, shape, axes, extents):
    box = rng.standard_normal(extents).astype("float32")
    full = np.zeros(shape, "float32")
    full[tuple(slice(0, e) for e in extents)] = box
    transform = SpectralTransform(shape, axes)
    np.testing.assert_allclose(
        ops.convert_to_numpy(transform.inverse(box, extents=extents)),
        scipy.fft.idctn(full, axes=axes, norm="ortho"), atol=1e-5,
    )


def test_truncated_inverse_rejects_cutting_a_blocked_axis():
    transform = SpectralTransform((1, 1, 32, 4), (2,), {2: 16})
    with pytest.raises(ValueError, match="may only cut"):
        transform.inverse(np.zeros((1, 1, 8, 4), "float32"), extents=(1, 1, 8, 4))


@pytest.mark.parametrize("shape,axes,extents", [
    ((1030, 3), (0, 1), None),            # a long axis first (FFT factor), even length
    ((2, 1025, 3), (1,), None),           # odd length, in the middle
    ((3, 1024), (0, 1), (3, 100)),        # truncated inverse along the long axis
    ((2, 3, 1031), (0, 1, 2), (2, 3, 1)),  # down to one kept row
])
def test_long_axes_use_the_fft_factor_and_match_scipy(rng, shape, axes, extents):
    from dct_keras.spectral.bases import FFT_MIN_LENGTH, _FFTFactor

    transform = SpectralTransform(shape, axes)
    assert any(isinstance(f, _FFTFactor) for f in transform._factors) and max(shape) >= FFT_MIN_LENGTH
    x = rng.standard_normal(shape).astype("float32")
    np.testing.assert_allclose(ops.convert_to_numpy(transform.forward(x)), scipy.fft.dctn(x, axes=axes, norm="ortho"),
                               atol=1e-4)
    extents = extents or shape
    full = np.zeros(shape, "float32")
    full[tuple(slice(0, e) for e in extents)] = x[tuple(slice(0, e) for e in extents)]
    np.testing.assert_allclose(
        ops.convert_to_numpy(transform.inverse(full[tuple(slice(0, e) for e in extents)], extents=extents)),
        scipy.fft.idctn(full, axes=axes, norm="ortho"), atol=1e-4)


def test_no_basis_matrix_above_a_few_megabytes():
    from dct_keras.spectral.bases import _Factor

    transform = SpectralTransform((4096, 4096), (0, 1))
    largest = max(f.matrix.size for f in transform._factors if isinstance(f, _Factor)) if any(
        isinstance(f, _Factor) for f in transform._factors) else 0
    assert 4 * largest <= 4 * 1024 * 1024  # float32 in the graph


def test_transforms_of_one_length_share_their_basis_and_stay_exact(rng):
    """Layers of one shape hold one copy of each basis (a FreqReg ResNet-18
    held 41 MiB of identical float64 bases before), read-only, and two
    transforms built apart still compute SciPy's inverse."""
    from dct_keras.spectral.bases import _Factor

    first, second = SpectralTransform((3, 3, 16, 24), (0, 1, 2, 3)), SpectralTransform((3, 3, 16, 24), (0, 1, 2, 3))
    for a, b in zip(first._factors, second._factors):
        assert isinstance(a, _Factor) and a.matrix is b.matrix
        assert not a.matrix.flags.writeable
    coefficients = rng.standard_normal((3, 3, 16, 24)).astype("float32")
    for transform in (first, second):
        np.testing.assert_allclose(ops.convert_to_numpy(transform.inverse(coefficients)),
                                   scipy.fft.idctn(coefficients, norm="ortho"), atol=1e-4)
    assert dct_matrix(5).flags.writeable  # the public function still returns a fresh array
