"""Fisher memory: tests from theory (Ganguli et al. 2008, Kerg et al. 2019)."""

import decimal
import functools

import keras
import numpy as np
import pytest

from tf_nnrnn.analysis import memory
from tf_nnrnn.analysis.memory import (
    SUPPLEMENT_TOTAL_MEMORY,
    fisher_memory,
    fisher_memory_curve,
    total_fisher_memory,
)
from tf_nnrnn.analysis.transients import chain_matrix


def random_normal_matrix(n, rng, max_radius=0.99):
    """`Q blockdiag(r_i R(φ_i)) Q^T`: normal, spectral radius < 1."""
    blocks = np.zeros((n, n))
    for i in range(0, n - 1, 2):
        r, phi = rng.uniform(0.0, max_radius), rng.uniform(0, 2 * np.pi)
        blocks[i : i + 2, i : i + 2] = r * np.array(
            [[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]]
        )
    if n % 2:
        blocks[-1, -1] = rng.uniform(-max_radius, max_radius)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return q @ blocks @ q.T


@pytest.mark.parametrize("method", ["sqrt", "lyapunov"])
@pytest.mark.parametrize("n", [1, 7, 30])
def test_normal_total_memory_is_norm_over_noise(method, n):
    rng = np.random.default_rng(n)
    for noise in (0.5, 2.0):
        v_matrix = random_normal_matrix(n, rng)
        v = rng.standard_normal(n)
        total = total_fisher_memory(v_matrix, v, noise=noise, method=method)
        np.testing.assert_allclose(total, v @ v / noise, rtol=0, atol=1e-6)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.3])
@pytest.mark.parametrize("noise", [1.0, 0.25])
def test_delay_line_curve_matches_closed_form(alpha, noise):
    n = 8
    v_matrix = alpha * np.eye(n, k=-1)
    curve = fisher_memory_curve(v_matrix, noise=noise, steps=n + 5)
    k = np.arange(n)
    partial = np.cumsum(alpha ** (2 * k))
    expected = np.concatenate([alpha ** (2 * k) / (noise * partial), [0] * 5])
    np.testing.assert_allclose(curve, expected, rtol=1e-10, atol=1e-14)
    total = total_fisher_memory(v_matrix, noise=noise)
    np.testing.assert_allclose(total, expected.sum(), rtol=1e-10)


def test_total_is_the_sum_of_the_curve_and_each_term_is_bounded():
    rng = np.random.default_rng(0)
    n = 12
    v_matrix = np.triu(rng.standard_normal((n, n)), 1) + 0.6 * np.eye(n)
    v_matrix *= 0.9 / max(1.0, np.max(np.abs(np.linalg.eigvals(v_matrix))))
    v = rng.standard_normal(n)
    result = fisher_memory(v_matrix, v, noise=0.7, steps=3000)
    np.testing.assert_allclose(result.total, result.curve.sum(), rtol=1e-9)
    # Non-normal: more than a normal network's ‖v‖²/ε is possible ...
    assert result.total != pytest.approx(v @ v / 0.7, rel=1e-3)
    # ... but no single lag carries more than ‖v‖²/ε.
    assert np.all(result.curve <= v @ v / 0.7 + 1e-12)
    lyapunov = fisher_memory(
        v_matrix, v, noise=0.7, steps=50, method="lyapunov"
    )
    np.testing.assert_allclose(lyapunov.total, result.total, rtol=1e-8)
    np.testing.assert_allclose(lyapunov.curve, result.curve[:50], rtol=1e-8)


def independent_curve(alpha, beta, d, steps, n=100, digits=60):
    """`J(k)`, k < steps, of the chain Θ(α, β, d), `v = e_1`, `ε = 1`, from
    the definition in 60-digit decimal arithmetic, sharing no code with
    the package (which works in float64 with square-root factors).

    Θ is lower-triangular Toeplitz, so are its powers: `V^k` is fixed by
    its first column `c_k = V^k e_1` (the `x_k` of `J(k) = x_kᵀ C⁻¹ x_k`),
    `c_{k+1}[i] = d c_k[i] + α c_k[i-1] + β Σ_{j≤i-2} c_k[j]`, and
    `C = Σ_k V^k (V^k)ᵀ` has `C[i, j] = G[i, j] + C[i-1, j-1]` with
    `G = Σ_k c_k c_kᵀ`. The sum is cut where `‖c_k‖ < 1e-40` (C ≥ I, so
    far below what J can feel), then `C = L Lᵀ` (Cholesky) and
    `J(k) = ‖L⁻¹ c_k‖²`. With cond(C) ≤ 1e23 on these chains, 60 digits
    leave > 30 correct. α, β, d enter as the exact values of the float64
    numbers `chain_matrix` stores.
    """
    with decimal.localcontext() as context:
        context.prec = digits
        a, b, d = (decimal.Decimal(float(u)) for u in (alpha, beta, d))
        zero = decimal.Decimal(0)
        c = [decimal.Decimal(1)] + [zero] * (n - 1)
        columns = []
        tiny = decimal.Decimal("1e-80")  # ‖c_k‖² < 1e-80
        while len(columns) < steps or sum(x * x for x in c) > tiny:
            columns.append(c)
            below = [zero, zero]  # Σ_{j≤i-2} c[j]
            for x in c[:-2]:
                below.append(below[-1] + x)
            c = [
                d * c[i] + (a * c[i - 1] if i else zero) + b * below[i]
                for i in range(n)
            ]
            assert len(columns) < 5000
        cm = np.array(columns, dtype=object).T  # (n, K)
        gram = cm @ cm.T
        cov = gram.copy()
        for i in range(1, n):
            cov[i, 1:] = cov[i, 1:] + cov[i - 1, :-1]
        lower = np.full((n, n), zero, dtype=object)
        for j in range(n):
            pivot = cov[j, j] - lower[j, :j] @ lower[j, :j]
            assert pivot > 0
            lower[j, j] = pivot.sqrt()
            lower[j + 1 :, j] = (
                cov[j + 1 :, j] - lower[j + 1 :, :j] @ lower[j, :j]
            ) / lower[j, j]
        y = cm[:, :steps].copy()
        for i in range(n):  # forward substitution, all k at once
            y[i] = (y[i] - lower[i, :i] @ y[:i]) / lower[i, i]
        return np.array([float(v) for v in (y * y).sum(axis=0)])


def delay_line_total(alpha, n=100):
    """Theory (math.md): `Σ_{k<n} α^{2k} / Σ_{j≤k} α^{2j}`; for α = 1 the
    harmonic number H_n."""
    powers = alpha ** (2.0 * np.arange(n))
    return float(np.sum(powers / np.cumsum(powers)))


def test_independent_curve_reproduces_theory():
    """The reference above gives the delay line's closed form, and
    ‖v‖²/ε-conserving J(k) = 0.81^k (1 - 0.81) for V = 0.9 I (normal)."""
    for alpha in (0.95, 1.0, 1.05):
        curve = independent_curve(alpha, 0.0, 0.0, 110)
        assert np.all(curve[100:] == 0)
        assert curve.sum() == pytest.approx(delay_line_total(alpha), rel=1e-14)
    assert delay_line_total(1.0) == pytest.approx(
        sum(1 / k for k in range(1, 101)), rel=1e-15
    )
    curve = independent_curve(0.0, 0.0, 0.9, 300, n=5)
    np.testing.assert_allclose(curve, 0.19 * 0.81 ** np.arange(300), rtol=1e-14)


# Enough lags that the curves' tails are below 1e-40 (J(k) = 0 after
# k = 99 when d = 0; J(k) < 1e-40 after k = 210 on the d = 0.2 rows).
REFERENCE_STEPS = {0.0: 110, 0.2: 300}
# Measured gaps between the package (float64) and the decimal reference:
# totals <= 4e-13 relative on the d = 0 and (0.95, 0, 0.2) rows, 3.7e-11
# on (1, 0, 0.2), 6.8e-9 on (1.05, 0, 0.2); the (1.05, 0, 0.2) curve
# <= 2.6e-7 relative at every lag, down to J ~ 1e-38.
TOL, CURVE_TOL = 5e-8, 1e-6


@functools.cache
def reference_curve(alpha, beta, d):
    return independent_curve(alpha, beta, d, REFERENCE_STEPS[d])


@pytest.mark.parametrize("alpha, beta, d", list(SUPPLEMENT_TOTAL_MEMORY))
def test_supplement_table_alpha_on_subdiagonal_e1_unit_noise(alpha, beta, d):
    """Kerg et al. supplement Table 6, N = 100: α on the sub-diagonal,
    v = e_1, ε = 1. Every total equals the independent decimal
    computation to TOL (the β = d = 0 rows also the delay line's closed
    form). The supplement's printed values are checked only where they
    agree with it, the d = 0 rows (to the table's 3 digits); its d = 0.2
    rows are 0.5-1.6 % off (see test_ill_conditioned_total_agrees_...)."""
    theta = chain_matrix(100, alpha, beta, d)
    total = total_fisher_memory(theta)
    reference = reference_curve(alpha, beta, d)
    assert reference[-1] < 1e-40
    assert total == pytest.approx(reference.sum(), rel=TOL)
    if beta == 0 and d == 0:
        assert total == pytest.approx(delay_line_total(alpha), rel=1e-12)
    if d == 0:
        published = SUPPLEMENT_TOTAL_MEMORY[(alpha, beta, d)]
        assert float(f"{total:.3g}") == published


def test_ill_conditioned_total_agrees_with_long_curve():
    """Θ = 0.2 I + 1.05 · shift, N = 100 (cond(C) ~ 1e23): the square-root
    method's total and curve equal the independent decimal computation
    (`independent_curve`), to TOL.

    The supplement (Kerg et al. 2019, Table 6) prints 20.5 for this row,
    1.6 % below the true 20.837. On the d = 0.2 rows the noise covariance
    C has condition numbers 5e14-1e23 (docs/results.md, "Analysis"). A C
    formed in float64 and then inverted, as a plain Lyapunov solve does
    (presumably what the supplement used), loses digits to that
    conditioning: `method="lyapunov"` here is 0.2 % off on the (1, 0, 0.2)
    row and returns a negative total on this one. The square-root method
    never forms C. Our reading (not confirmed by the authors) is that the
    supplement lost accuracy on these rows; its d = 0 rows, with
    well-conditioned C, agree with the exact values to its 3 digits.
    """
    theta = chain_matrix(100, 1.05, 0.0, 0.2)
    result = fisher_memory(theta, steps=600)
    np.testing.assert_allclose(result.total, result.curve.sum(), rtol=1e-7)
    reference = reference_curve(1.05, 0.0, 0.2)
    steps = len(reference)
    np.testing.assert_allclose(
        result.curve[:steps], reference, rtol=CURVE_TOL, atol=0
    )
    assert np.all(result.curve[steps:] < 1e-40)
    assert result.total == pytest.approx(reference.sum(), rel=TOL)
    published = SUPPLEMENT_TOTAL_MEMORY[(1.05, 0.0, 0.2)]
    assert result.total / published - 1 > 0.01


def test_cell_layer_and_model_sources_use_the_transpose():
    cell = keras.layers.SimpleRNNCell(6)
    layer = keras.layers.RNN(cell)
    model = keras.Sequential([keras.Input((3, 2)), layer])
    rng = np.random.default_rng(1)
    w = np.triu(rng.standard_normal((6, 6)), 1) * 0.5 + 0.3 * np.eye(6)
    cell.recurrent_kernel.assign(w.astype("float32"))
    v = rng.standard_normal(6)
    expected = fisher_memory_curve(
        w.T.astype("float32").astype(float), v, steps=10
    )
    for source in (cell, layer, model):
        np.testing.assert_allclose(
            fisher_memory_curve(source, v, steps=10), expected, rtol=1e-9
        )
    assert not np.allclose(expected, fisher_memory_curve(w, v, steps=10))


@pytest.mark.parametrize(
    "matrix, message",
    [
        (np.ones((2, 3)), "square"),
        (np.ones(3), "square"),
        (np.array([[0.5, np.nan], [0.0, 0.1]]), "finite"),
        (np.eye(3), "spectral radius"),
        (1.01 * np.eye(3), "spectral radius"),
    ],
)
def test_bad_matrices(matrix, message):
    with pytest.raises(ValueError, match=message):
        total_fisher_memory(matrix)


@pytest.mark.parametrize("noise", [0.0, -1.0, np.inf])
def test_bad_noise(noise):
    with pytest.raises(ValueError, match="`noise`"):
        fisher_memory_curve(0.5 * np.eye(2), noise=noise)


def test_bad_arguments():
    v_matrix = 0.5 * np.eye(3)
    with pytest.raises(ValueError, match="`v`"):
        total_fisher_memory(v_matrix, v=np.ones(4))
    with pytest.raises(ValueError, match="`steps`"):
        fisher_memory_curve(v_matrix, steps=0)
    with pytest.raises(TypeError, match="`steps`"):
        fisher_memory_curve(v_matrix, steps=2.5)
    with pytest.raises(ValueError, match="`method`"):
        total_fisher_memory(v_matrix, method="truncated")
    with pytest.raises(TypeError, match="`source`"):
        total_fisher_memory("not a matrix")


def test_result_record():
    result = memory.fisher_memory(0.5 * np.eye(2), steps=3, noise=2.0)
    assert result.curve.shape == (3,)
    assert result.noise == 2.0
