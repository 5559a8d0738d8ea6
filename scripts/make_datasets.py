#!/usr/bin/env python3
"""Writes the two real data sets that ship inside scikit-learn as CSV files for `classify`:

    data/digits.csv         1797 handwritten digits, 8x8 pixels (64 features), classes 0-9
    data/breast_cancer.csv  569 breast cancer samples, 30 features, classes 0-1

One header row with the feature names and `target` last; one sample per row; numbers written with
repr(), so that both Rust and Python read back the very same float64 values. Nothing is
downloaded: both sets are files inside the scikit-learn package. Run by scripts/setup.sh.
"""
import argparse
import csv
import os

from sklearn import datasets

SETS = {
    "digits": datasets.load_digits,
    "breast_cancer": datasets.load_breast_cancer,
}


def feature_names(name, bunch):
    if name == "digits":
        return [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    return [str(n) for n in bunch.feature_names]


def write(name, folder):
    bunch = SETS[name]()
    path = os.path.join(folder, f"{name}.csv")
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(feature_names(name, bunch) + ["target"])
        for row, label in zip(bunch.data, bunch.target):
            w.writerow([repr(float(v)) for v in row] + [int(label)])
    os.replace(tmp, path)
    return path, bunch.data.shape


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data", help="folder for the CSV files")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in SETS:
        path, shape = write(name, args.out)
        if not args.quiet:
            print(f"{path}: {shape[0]} samples, {shape[1]} features")


if __name__ == "__main__":
    main()
