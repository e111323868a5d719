"""Behaviour of fastrnn.sklearn's RNNClassifier, RNNRegressor and SequenceScaler: input forms,
labels, determinism, clone/params/pickling, partial_fit, warm_start, threads and bad input."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

import fastrnn  # noqa: E402
from fastrnn.sklearn import RNNClassifier, RNNRegressor, SequenceScaler  # noqa: E402
from fastrnn.sklearn._threads import thread_limit  # noqa: E402

FAST = dict(units=8, epochs=3, batch_size=16, learning_rate=0.01, random_state=0, n_threads=1)


def _series(n: int = 80, t: int = 6, f: int = 2, seed: int = 0):
    """(n, t, f) float32 series and a label: the sign of the sum of feature 0."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, t, f)).astype(np.float32)
    return x, x[:, :, 0].sum(axis=1) > 0


# ---------------------------------------------------------------- classification
def test_string_labels_binary_learns_and_predicts_labels():
    x, pos = _series(160)
    y = np.where(pos, "up", "down")
    clf = RNNClassifier(**{**FAST, "epochs": 25, "units": 16}).fit(x, y)
    assert list(clf.classes_) == ["down", "up"]
    assert clf.predict(x).dtype == y.dtype and set(clf.predict(x)) <= {"down", "up"}
    proba = clf.predict_proba(x)
    assert proba.shape == (160, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(clf.predict(x), clf.classes_[proba.argmax(axis=1)])
    assert clf.score(x, y) > 0.9
    assert clf.model_.layers[-1].units == 1  # sigmoid head for two classes


def test_multiclass_int_labels_softmax_head():
    x, _ = _series(90)
    y = np.digitize(x[:, :, 0].sum(axis=1), [-1.0, 1.0]) * 10  # labels 0, 10, 20
    clf = RNNClassifier(**FAST).fit(x, y)
    np.testing.assert_array_equal(clf.classes_, [0, 10, 20])
    assert clf.predict_proba(x).shape == (90, 3)
    assert clf.model_.layers[-1].units == 3
    assert set(np.unique(clf.predict(x))) <= {0, 10, 20}


def test_same_random_state_same_predictions_different_state_differs():
    x, y = _series()
    a = RNNClassifier(**FAST).fit(x, y).predict_proba(x)
    b = RNNClassifier(**FAST).fit(x, y).predict_proba(x)
    c = RNNClassifier(**{**FAST, "random_state": 1}).fit(x, y).predict_proba(x)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_dropout_bidirectional_stacked_deterministic():
    x, y = _series()
    kw = {**FAST, "units": (6, 4), "bidirectional": True, "dropout": 0.2,
          "recurrent_dropout": 0.1}
    a = RNNClassifier(**kw).fit(x, y)
    b = RNNClassifier(**kw).fit(x, y)
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
    rnn = a.model_.layers[0]
    # The two directions start from different weights (independently seeded).
    assert not np.array_equal(rnn.forward_layer.get_weights()[0],
                              rnn.backward_layer.get_weights()[0])


def test_2d_float_is_univariate_series():
    x, y = _series(f=1)
    a = RNNClassifier(**FAST).fit(x[:, :, 0], y)
    b = RNNClassifier(**FAST).fit(x, y)
    assert a.n_features_in_ == x.shape[1] and b.n_features_in_ == 1
    np.testing.assert_array_equal(a.predict_proba(x[:, :, 0]), b.predict_proba(x))


# ---------------------------------------------------------------- regression
def test_regressor_1d_and_multioutput_shapes_and_fit():
    x, _ = _series(160)
    y1 = 5.0 + 3.0 * x[:, :, 0].sum(axis=1)  # unscaled target: standardized internally
    reg = RNNRegressor(**{**FAST, "epochs": 30, "units": 16}).fit(x, y1)
    assert reg.predict(x).shape == (160,)
    assert reg.score(x, y1) > 0.8
    y2 = np.stack([y1, -y1], axis=1)
    reg2 = RNNRegressor(**FAST).fit(x, y2)
    assert reg2.predict(x).shape == (160, 2) and reg2.n_outputs_ == 2


# ---------------------------------------------------------------- params, clone, pickle
def test_get_set_params_and_clone_round_trip():
    est = RNNClassifier(units=(8, 4), bidirectional=True, embedding=(50, 8), epochs=7,
                        early_stopping=2, n_threads=1)
    params = est.get_params()
    assert params["units"] == (8, 4) and params["embedding"] == (50, 8)
    twin = clone(est)
    assert twin.get_params() == params and twin is not est
    twin.set_params(units=16, dropout=0.3)
    assert twin.units == 16 and twin.dropout == 0.3 and est.units == (8, 4)
    assert RNNRegressor().set_params(**RNNRegressor(epochs=2).get_params()).epochs == 2


def test_clone_of_fitted_is_unfitted():
    x, y = _series()
    fitted = RNNClassifier(**FAST).fit(x, y)
    assert not hasattr(clone(fitted), "model_")


@pytest.mark.parametrize("cls", [RNNClassifier, RNNRegressor])
def test_pickled_fitted_estimator_predicts_identically(cls):
    x, y = _series()
    y = y if cls is RNNClassifier else x[:, :, 1].mean(axis=1)
    est = cls(**{**FAST, "validation_split": 0.25, "early_stopping": 1}).fit(x, y)
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.predict(x), est.predict(x))
    assert loaded.history_ == est.history_ and "val_loss" in loaded.history_
    loaded.partial_fit(x, y)  # still trainable after loading


# ---------------------------------------------------------------- variable-length input
def test_ragged_list_matches_each_sequence_alone():
    rng = np.random.default_rng(3)
    seqs = [rng.normal(size=(n, 2)) for n in (3, 7, 5, 7, 2, 6) * 6]
    y = [s[:, 0].sum() > 0 for s in seqs]
    clf = RNNClassifier(**FAST).fit(seqs, y)
    assert clf.n_features_in_ == 2
    together = clf.predict_proba(seqs)
    alone = np.concatenate([clf.predict_proba(s[None].astype(np.float32)) for s in seqs])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)


def test_ragged_predict_on_model_fitted_on_arrays_goes_length_by_length():
    x, y = _series()
    clf = RNNClassifier(**FAST).fit(x, y)
    seqs = [x[0, :4], x[1], x[2, :2]]
    expected = np.concatenate([clf.predict_proba(s[None]) for s in seqs])
    np.testing.assert_allclose(clf.predict_proba(seqs), expected, rtol=1e-6)


def test_ragged_univariate_lists():
    rng = np.random.default_rng(4)
    seqs = [rng.normal(size=n) for n in (4, 6, 3, 5) * 8]
    reg = RNNRegressor(**FAST).fit(seqs, [s.mean() for s in seqs])
    assert reg.n_features_in_ == 1 and reg.predict(seqs).shape == (32,)


def test_token_ids_with_embedding_mask_id_zero():
    rng = np.random.default_rng(5)
    ids = rng.integers(1, 30, size=(60, 6))
    ids[:, 4:] = 0  # post-padding
    y = ids[:, 0] > 15
    clf = RNNClassifier(**{**FAST, "embedding": (30, 4)}).fit(ids, y)
    shifted = np.zeros_like(ids)
    shifted[:, 2:] = ids[:, :4]  # same tokens, pre-padded: masked steps are skipped
    np.testing.assert_allclose(clf.predict_proba(shifted), clf.predict_proba(ids), rtol=1e-5)
    with pytest.raises(ValueError, match="token ids"):
        clf.predict(ids + 0.5)


def test_mask_value_skips_zero_padded_steps():
    x, y = _series()
    padded = np.concatenate([x, np.zeros((x.shape[0], 3, x.shape[2]), np.float32)], axis=1)
    clf = RNNClassifier(**{**FAST, "mask_value": 0.0}).fit(padded, y)
    np.testing.assert_allclose(clf.predict_proba(padded), clf.predict_proba(x), rtol=1e-5)


# ---------------------------------------------------------------- partial_fit, warm_start, weights
def test_partial_fit_one_epoch_per_call_and_classes():
    x, y = _series()
    labels = np.where(y, "b", "a")
    clf = RNNClassifier(**FAST)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(x, labels)
    clf.partial_fit(x[:40], labels[:40], classes=["a", "b", "c"])
    clf.partial_fit(x[40:], labels[40:])
    assert len(clf.history_["loss"]) == 2
    assert clf.predict_proba(x).shape == (80, 3)
    with pytest.raises(ValueError, match=r"Expected only labels in classes_ .*'z'"):
        clf.partial_fit(x[:2], ["a", "z"])


def test_warm_start_continues_the_same_model():
    x, y = _series()
    clf = RNNClassifier(**{**FAST, "warm_start": True}).fit(x, y)
    model = clf.model_
    first = clf.predict_proba(x)
    clf.fit(x, y)
    assert clf.model_ is model and len(clf.history_["loss"]) == 2 * FAST["epochs"]
    assert not np.allclose(first, clf.predict_proba(x))
    fresh = RNNClassifier(**FAST).fit(x, y)
    old = fresh.model_
    fresh.fit(x, y)  # warm_start=False: a new model, a new history
    assert fresh.model_ is not old and len(fresh.history_["loss"]) == FAST["epochs"]
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(x, np.where(y, 2, 3))


def test_sample_weight_ones_equal_none_and_weights_matter():
    x, y = _series()
    a = RNNClassifier(**FAST).fit(x, y).predict_proba(x)
    b = RNNClassifier(**FAST).fit(x, y, sample_weight=np.ones(len(y))).predict_proba(x)
    np.testing.assert_array_equal(a, b)
    c = RNNClassifier(**FAST).fit(x, y, sample_weight=np.where(y, 5.0, 0.1)).predict_proba(x)
    assert c[:, 1].mean() > a[:, 1].mean()


# ---------------------------------------------------------------- threads
def test_thread_limit_sets_and_restores_the_global():
    before = fastrnn.get_num_threads()
    with thread_limit(1):
        assert fastrnn.get_num_threads() == 1
    assert fastrnn.get_num_threads() == before
    with thread_limit(None):
        assert fastrnn.get_num_threads() == before


def test_n_threads_does_not_change_results_and_restores_setting():
    x, y = _series()
    before = fastrnn.get_num_threads()
    one = RNNClassifier(**FAST).fit(x, y).predict_proba(x)
    two = RNNClassifier(**{**FAST, "n_threads": 2}).fit(x, y).predict_proba(x)
    np.testing.assert_allclose(one, two, rtol=1e-5, atol=1e-6)
    assert fastrnn.get_num_threads() == before


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("cls", [RNNClassifier, RNNRegressor])
def test_bad_input_raises_sklearn_errors(cls):
    x, y = _series()
    est = cls(**FAST)
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[80, 79\]"):
        est.fit(x, y[:-1])
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array instead"):
        est.fit(x[:, 0, 0], y)
    bad = x.copy()
    bad[3, 2, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.fit(bad, y)
    with pytest.raises(ValueError, match="X must be 2-D .* or 3-D"):
        est.fit(x[:, :, :, None], y)
    est.fit(x, y)
    with pytest.raises(ValueError, match="X has 3 features per time step, but .* expecting 2"):
        est.predict(np.zeros((4, 6, 3)))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.predict(bad)
    assert not np.isnan(x).any()  # the caller's array was not modified


@pytest.mark.parametrize("param, value", [
    ("units", 0), ("units", (8, -1)), ("dropout", 1.0), ("epochs", 0), ("batch_size", 2.5),
    ("validation_split", 1.0), ("early_stopping", -1), ("embedding", (10,)),
    ("optimizer", "lbfgs"), ("learning_rate", 0), ("clipnorm", -1.0), ("n_threads", 0),
])
def test_bad_hyperparameters_name_the_argument(param, value):
    x, y = _series(20)
    with pytest.raises(ValueError, match=f"`{param}`.*Received: {param}="):
        RNNClassifier(**{**FAST, param: value}).fit(x, y)


def test_one_class_is_an_error():
    x, _ = _series(10)
    with pytest.raises(ValueError, match="at least 2 classes"):
        RNNClassifier(**FAST).fit(x, np.ones(10))


# ---------------------------------------------------------------- SequenceScaler
def test_scaler_ignores_padded_steps_and_keeps_them():
    rng = np.random.default_rng(6)
    x = rng.normal(3.0, 2.0, size=(20, 9, 3))
    lengths = rng.integers(2, 10, size=20)
    x[np.arange(9)[None, :] >= lengths[:, None]] = 0.0
    before = x.copy()
    sc = SequenceScaler(mask_value=0.0).fit(x)
    valid = np.concatenate([x[i, :n] for i, n in enumerate(lengths)])
    np.testing.assert_allclose(sc.mean_, valid.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sc.scale_, valid.std(axis=0), rtol=1e-12)
    out = sc.transform(x)
    pad = np.arange(9)[None, :] >= lengths[:, None]
    assert np.all(out[pad] == 0.0)
    np.testing.assert_allclose(out[~pad], (x[~pad] - valid.mean(0)) / valid.std(0), rtol=1e-12)
    np.testing.assert_allclose(sc.inverse_transform(out), x, atol=1e-12)
    np.testing.assert_array_equal(x, before)


def test_scaler_list_in_list_out():
    rng = np.random.default_rng(7)
    seqs = [rng.normal(1.0, 4.0, size=(n, 2)) for n in (3, 8, 5)]
    out = SequenceScaler().fit_transform(seqs)
    assert isinstance(out, list) and [len(o) for o in out] == [3, 8, 5]
    flat = np.concatenate(out)
    np.testing.assert_allclose(flat.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(flat.std(0), 1.0, rtol=1e-12)


def test_pipeline_scaler_then_classifier_on_ragged_lists():
    rng = np.random.default_rng(8)
    seqs = [rng.normal(100.0, 10.0, size=(n, 2)) for n in (4, 7, 5, 6) * 10]
    y = [s[:, 0].mean() > 100.0 for s in seqs]
    pipe = make_pipeline(SequenceScaler(), RNNClassifier(**FAST)).fit(seqs, y)
    assert pipe.predict(seqs).shape == (40,)
