"""``python -m fastmlp bench [...]``: the benchmark of fastmlp against scikit-learn."""

import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "compile":
        from ._warmup import main as compile_main

        return compile_main(argv[1:])
    if not argv or argv[0] != "bench":
        print("usage: python -m fastmlp bench [--quick] [--only NAME ...] [--json FILE] "
              "[--plot FILE.png] [--list]\n       python -m fastmlp compile [--list]",
              file=sys.stderr)
        return 2
    from .bench import main as bench_main

    return bench_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
