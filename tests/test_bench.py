"""The benchmark harness: its table, its BLAS floor, and one real CLI run."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from fastmlp._profile import floor_epoch_runner, floor_flops, time_best
from fastmlp._workloads import BY_NAME, WORKLOADS, estimator_class, layer_units
from fastmlp.bench import format_table


def test_workload_table_is_well_formed():
    assert len(BY_NAME) == len(WORKLOADS)
    required = {"digits_adam", "digits_lbfgs", "mnist_f64", "mnist_f32", "deep_f32",
                "sparse_csr", "regressor", "rbm_batch10", "rbm_batch100", "predict_one",
                "predict_proba_54k"}
    assert required <= set(BY_NAME)
    for w in WORKLOADS:
        assert w.task in ("fit", "predict_one", "predict_proba")
        for lib in ("sklearn", "fastmlp"):
            cls = estimator_class(lib, w.estimator)
            cls(**w.estimator_params(True))  # valid parameters for both
            cls(**w.estimator_params(False))


def test_quick_data_shapes():
    X, y, X_test, y_test = BY_NAME["mnist_f32"].data(True)
    assert X.dtype == np.float32 and X.shape[1] == 784 and len(np.unique(y)) == 10
    assert X_test.shape[1] == 784 and len(X_test) == len(y_test)
    Xs = BY_NAME["sparse_csr"].data(True)[0]
    assert Xs.format == "csr"
    assert layer_units(BY_NAME["deep_f32"], *BY_NAME["deep_f32"].data(True)[:2]) == [
        256, 512, 512, 512, 3]


def test_blas_floor():
    units = [30, 20, 4]
    floor = time_best(floor_epoch_runner(units, n_samples=450, batch_size=200))
    assert 0 < floor < 1.0
    # forward + weight gradient for each layer, error signal for all but the first
    assert floor_flops(units, 10) == 10 * (2 * 30 * 20 * 2 + 2 * 20 * 4 * 3)


def test_cli_quick_run_writes_json_rows(tmp_path):
    out = tmp_path / "rows.json"
    proc = subprocess.run(
        [sys.executable, "-m", "fastmlp", "bench", "--quick", "--only", "digits_lbfgs",
         "predict_one", "--json", str(out), "--no-phases"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "digits_lbfgs" in proc.stdout and "compile" in proc.stdout
    assert "[1/2]" in proc.stderr  # progress
    rows = json.loads(out.read_text())
    assert [r["workload"] for r in rows] == ["digits_lbfgs", "predict_one"]
    for r in rows:
        for key in ("workload", "sklearn_s", "fastmlp_s", "speedup", "sklearn_score",
                    "fastmlp_score"):
            assert key in r
        assert r["sklearn_s"] > 0 and r["fastmlp_s"] > 0
        assert r["speedup"] == pytest.approx(r["sklearn_s"] / r["fastmlp_s"])
        assert r["fastmlp_score"] == pytest.approx(r["sklearn_score"], abs=0.02)


def test_format_table_with_floor_and_phases():
    row = {"workload": "w", "task": "fit", "sklearn_s": 2.0, "fastmlp_s": 1.0, "speedup": 2.0,
           "sklearn_score": 0.9, "fastmlp_score": 0.9, "sklearn_over_floor": 3.0,
           "fastmlp_over_floor": 1.5, "floor_epoch_s": 0.1, "fastmlp_kernel_over_floor": 1.2,
           "fastmlp_phases_s": {"gather": 0.01, "forward": 0.04, "backward": 0.05,
                                "update": 0.02, "total": 0.12}}
    text = format_table([row])
    assert "| w | 2.000 s | 1.000 s | 2.00x |" in text
    assert "1.50x" in text and "3.00x" in text and "1.20x" in text


def test_cli_usage_and_list():
    proc = subprocess.run([sys.executable, "-m", "fastmlp"], capture_output=True, text=True)
    assert proc.returncode == 2 and "usage" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "fastmlp", "bench", "--list"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "rbm_batch10" in proc.stdout


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from fastmlp.bench import plot

    rows = [{"workload": "a", "speedup": 2.5}, {"workload": "b", "speedup": 0.8}]
    path = tmp_path / "speedups.png"
    plot(rows, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_busy_processes_run_and_end():
    from fastmlp._contention import busy_processes

    with busy_processes(2) as procs:
        assert len(procs) == 2 and all(p.poll() is None for p in procs)
    assert all(p.poll() is not None for p in procs)


def test_cli_contended_run_has_the_three_variants(tmp_path):
    """``--load 1``: one busy process, three variants of each workload, JSON rows."""
    out = tmp_path / "rows.json"
    proc = subprocess.run(
        [sys.executable, "-m", "fastmlp", "bench", "--quick", "--load", "1", "--only",
         "digits_lbfgs", "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "1 busy process(es)" in proc.stdout and "fastmlp, 1 thread" in proc.stdout
    (row,) = json.loads(out.read_text())
    assert row["workload"] == "digits_lbfgs" and row["load"] == 1
    for name in ("sklearn", "fastmlp", "fastmlp_1t"):
        assert len(row[name + "_all_s"]) == 3 and row[name + "_s"] > 0
    assert row["over_one_thread"] == pytest.approx(row["fastmlp_s"] / row["fastmlp_1t_s"])
    # Threads never change the model: the same score on one thread.
    assert row["fastmlp_1t_score"] == pytest.approx(row["fastmlp_score"], abs=1e-12)


def test_contended_single_row_latencies_interleave_the_variants():
    """Each variant's model predicts in its own thread limits; a median per variant."""
    import numba

    from fastmlp import MLPClassifier
    from fastmlp._contention import _single_row_latencies

    rng = np.random.RandomState(0)
    X, y = rng.rand(60, 5), rng.randint(2, size=60)
    models = {name: MLPClassifier(hidden_layer_sizes=(4,), max_iter=300, random_state=0).fit(X, y)
              for name in ("fastmlp", "fastmlp_1t")}
    threads = numba.get_num_threads()
    seen = []
    for name, est in models.items():
        predict = est.predict
        est.predict = lambda x, _n=name, _p=predict: (seen.append((_n, numba.get_num_threads())),
                                                      _p(x))[1]
    got = _single_row_latencies(models, X, calls=40, run=20)
    assert set(got) == set(models) and all(0 < s < 1 for s in got.values())
    # 20 calls of one variant, then 20 of the other, twice; the one-thread
    # variant's calls ran on one Numba thread, and the limit was given back.
    assert [n for n, _ in seen] == (["fastmlp"] * 20 + ["fastmlp_1t"] * 20) * 2
    assert {t for n, t in seen if n == "fastmlp_1t"} == {1}
    assert numba.get_num_threads() == threads


def test_bench_ab_imports_another_checkout_next_to_this_one(tmp_path, monkeypatch):
    """The "before" tree is copied without Numba cache files and imported as its own package."""
    import fastmlp
    from fastmlp import bench_ab

    checkout = tmp_path / "checkout"
    shutil.copytree(os.path.dirname(fastmlp.__file__), checkout / "fastmlp",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (checkout / "fastmlp" / "stale.nbi").write_text("not a cache")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "fastmlp_before", raising=False)
    before = bench_ab._before_package(str(checkout))
    try:
        assert before.__name__ == "fastmlp_before" and before is not fastmlp
        copy = os.path.dirname(before.__file__)
        assert copy.startswith(str(tmp_path / "home")) and not os.listdir(copy).count("stale.nbi")
        assert before.MLPClassifier is not fastmlp.MLPClassifier
        assert before.MLPClassifier.__module__ == "fastmlp_before._mlp"
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] == "fastmlp_before"]:
            del sys.modules[name]
    with pytest.raises(SystemExit, match="no fastmlp package"):
        bench_ab._before_package(str(tmp_path))
