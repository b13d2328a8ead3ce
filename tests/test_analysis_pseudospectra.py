"""ε-pseudospectra: normal matrices give ε-discs; non-normal ones more."""

import numpy as np
import pytest

from tf_nnrnn.analysis.pseudospectra import (
    check_epsilons,
    pseudospectrum,
    smallest_singular_values,
)
from tf_nnrnn.analysis.transients import chain_matrix


def normal_matrix(n, rng):
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    blocks = np.zeros((n, n))
    for i in range(0, n - 1, 2):
        r, phi = rng.uniform(0.2, 1.0), rng.uniform(0, 2 * np.pi)
        blocks[i : i + 2, i : i + 2] = r * np.array(
            [[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]]
        )
    if n % 2:
        blocks[-1, -1] = rng.uniform(-1, 1)
    return q @ blocks @ q.T


def distance_to_spectrum(v_matrix, z):
    eigenvalues = np.linalg.eigvals(v_matrix)
    return np.min(np.abs(z[..., None] - eigenvalues), axis=-1)


@pytest.mark.parametrize(
    "n, method, rtol",
    [(9, "svd", 1e-10), (40, "svd", 1e-10), (40, "lanczos", 1e-5)],
)
def test_normal_matrix_gives_distance_to_nearest_eigenvalue(n, method, rtol):
    v_matrix = normal_matrix(n, np.random.default_rng(n))
    grid = pseudospectrum(v_matrix, num_points=25, method=method)
    expected = distance_to_spectrum(v_matrix, grid.real + 1j * grid.imag)
    np.testing.assert_allclose(grid.sigma_min, expected, rtol=rtol, atol=1e-12)
    # So the ε-pseudospectral radius on the grid is at most ρ + ε.
    radius = np.max(np.abs(grid.eigenvalues))
    assert grid.radius(0.1) <= radius + 0.1 + 1e-9


def test_lanczos_agrees_with_svd_on_non_normal_matrix():
    rng = np.random.default_rng(5)
    n = 40
    v_matrix = np.triu(rng.standard_normal((n, n))) / np.sqrt(n)
    v_matrix += 0.2 * rng.standard_normal((n, n)) / np.sqrt(n)
    z = rng.uniform(-1.5, 1.5, (30,)) + 1j * rng.uniform(-1.5, 1.5, (30,))
    exact = smallest_singular_values(v_matrix, z, method="svd")
    fast = smallest_singular_values(v_matrix, z, method="lanczos")
    np.testing.assert_allclose(fast, exact, rtol=1e-8)


def test_non_normal_pseudospectrum_is_larger_than_the_discs():
    # A nilpotent chain has all eigenvalues at 0, yet its ε-pseudospectrum
    # reaches far beyond the ε-disc around 0.
    theta = chain_matrix(12, alpha=1.0)
    extent = (-1.5, 1.5, -1.5, 1.5)
    grid = pseudospectrum(theta, num_points=31, extent=extent)
    assert grid.radius(1e-3) > 0.5
    normal = pseudospectrum(np.zeros((12, 12)), num_points=31, extent=extent)
    assert normal.radius(1e-3) < 1e-3 + 1e-12
    assert grid.area_fraction(1e-3) > normal.area_fraction(1e-3)


def test_eigenvalue_on_grid_gives_zero():
    sigma = smallest_singular_values(np.diag([0.0, 0.5]), [0.0, 0.5, 0.25])
    np.testing.assert_allclose(sigma, [0.0, 0.0, 0.25], atol=1e-15)
    sigma = smallest_singular_values(
        np.diag(np.arange(40) / 40), [0.5, 0.0125], method="lanczos"
    )
    np.testing.assert_allclose(sigma, [0.0, 0.0125], atol=1e-12)


@pytest.mark.parametrize("epsilons", [0.0, -0.1, [0.1, 0.0], [], np.nan])
def test_bad_epsilons(epsilons):
    with pytest.raises(ValueError, match="`epsilons`"):
        check_epsilons(epsilons)


def test_bad_arguments():
    grid = pseudospectrum(np.eye(2) * 0.5, num_points=5)
    for eps in (0.0, -1.0):
        with pytest.raises(ValueError, match="`epsilon`"):
            grid.area_fraction(eps)
        with pytest.raises(ValueError, match="`epsilon`"):
            grid.radius(eps)
    with pytest.raises(ValueError, match="`extent`"):
        pseudospectrum(np.eye(2), extent=(1, 0, -1, 1))
    with pytest.raises(ValueError, match="`num_points`"):
        pseudospectrum(np.eye(2), num_points=1)
    with pytest.raises(ValueError, match="`method`"):
        smallest_singular_values(np.eye(2), [0.0], method="qr")
    with pytest.raises(ValueError, match="`points`"):
        smallest_singular_values(np.eye(2), [np.nan])
    with pytest.raises(ValueError, match="square"):
        pseudospectrum(np.ones((2, 3)))
