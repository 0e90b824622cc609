"""The start-up measurements of ``python -m fastmlp bench`` (new processes)."""

from fastmlp._startup import first_fit_overheads, format_startup, import_times


def test_import_times_in_new_processes():
    times = import_times(repeats=1)
    assert set(times) == {"sklearn.neural_network", "fastmlp"}
    # fastmlp imports scikit-learn's base classes, so it cannot be cheaper
    # than nothing, and an import is not free.
    assert all(0 < t < 60 for t in times.values())


def test_first_fit_cold_cache_compiles_and_warm_cache_loads():
    (row,) = first_fit_overheads(["BernoulliRBM"])
    assert row["case"] == "BernoulliRBM" and row["later_s"] > 0
    # The cold process compiles every kernel it calls; the warm one, on the
    # cache the cold one wrote, only loads them.
    assert row["cold_extra_s"] > row["warm_extra_s"]
    assert row["cold_extra_s"] > 1.0


def test_format_startup():
    text = format_startup(
        {"sklearn.neural_network": 0.5, "fastmlp": 0.7},
        [dict(case="MLPClassifier(adam)", later_s=0.02, cold_extra_s=9.0, warm_extra_s=0.1)],
    )
    assert "(+0.20 s)" in text
    assert "| MLPClassifier(adam) | 0.020 s | +9.00 s | +0.10 s |" in text
