"""scikit-learn's common estimator checks on the fastrnn estimators (tiny models, few epochs).

Every check that cannot pass is listed below with the reason; all others must pass.
"""

from __future__ import annotations

import pytest

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastrnn.sklearn import RNNClassifier, RNNRegressor, SequenceScaler  # noqa: E402

# One C++ thread: the check data are tiny, and CI has 2 shared cores. The settings are the
# smallest that still reach the checks' score thresholds (accuracy 0.83, R^2 0.5).
_CLASSIFIER = dict(units=4, epochs=2, batch_size=16, learning_rate=0.01, random_state=0,
                   n_threads=1)
_REGRESSOR = dict(units=8, epochs=20, batch_size=16, learning_rate=0.01, random_state=0,
                  n_threads=1)

_SAMPLE_WEIGHT_REASON = (
    "mini-batch training: repeating a sample changes the number and make-up of the shuffled "
    "batches, so integer weights equal repetition only in expectation, not to 1e-7"
)


# Checks that compare predictions of a sample made in different batches at rtol=1e-7. The
# engine computes in float32 and its kernels block by batch size, so a sample's output can
# differ by an ulp (~1e-7 relative) between batch sizes: whether that trips the tolerance
# depends on the data and on the CPU's SIMD path, so these are non-strict expected failures.
_FLOAT32_BATCH_REASON = (
    "float32 engine whose kernels block by batch size: a sample's output can differ by one "
    "ulp (~1.2e-7 relative) between batch sizes, at the edge of the check's rtol=1e-7"
)
_FLOAT32_BATCH_CHECKS = ("check_methods_subset_invariance", "check_methods_sample_order_invariance")


def _check_name(check) -> str:
    func = getattr(check, "func", check)
    return getattr(func, "__name__", "")


def _expected_failed(estimator) -> dict[str, str]:
    """Checks that cannot pass, with the reason (keys are check function names)."""
    if isinstance(estimator, SequenceScaler):
        return {}
    return {"check_sample_weight_equivalence_on_dense_data": _SAMPLE_WEIGHT_REASON}


@parametrize_with_checks(
    [RNNClassifier(**_CLASSIFIER), RNNRegressor(**_REGRESSOR), SequenceScaler()],
    expected_failed_checks=_expected_failed,
)
def test_sklearn_compatible_estimator(estimator, check):
    """Run one scikit-learn common check."""
    if isinstance(estimator, SequenceScaler) or _check_name(check) not in _FLOAT32_BATCH_CHECKS:
        check(estimator)
        return
    try:
        check(estimator)
    except AssertionError as exc:
        if "not invariant" not in str(exc):
            raise
        pytest.xfail(_FLOAT32_BATCH_REASON)
