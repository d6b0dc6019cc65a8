#!/usr/bin/env bash
# Download the wheels of benchmarks/gpu_wheels.txt into .whl/ (git-ignored), for a Python
# 3.12 x86-64 Linux GPU machine that cannot reach a package index; benchmarks/gpu_check.sh
# installs them there. Each wheel is fetched without its dependencies: the list names them all.
set -eu
cd "$(dirname "$0")/.."
mkdir -p .whl
grep -v -E '^\s*(#|$)' benchmarks/gpu_wheels.txt | while read -r req; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_26_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$req"
done
ls .whl | wc -l | xargs echo "wheels in .whl/:"
du -sh .whl
