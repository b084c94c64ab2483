#!/usr/bin/env bash
# The GPU run (issue 5): the main comparison of `python -m benchmarks` with PyTorch
# on CUDA, E-GBAS on a full-width 256x256 PGGAN, and the kept-path tests, within
# 8 minutes on one H100. Matmul precision is set explicitly ("highest": float32
# everywhere, TF32 off in PyTorch); the device name is recorded. Results in $OUT.
#   bash benchmarks/gpu.sh
set -uo pipefail
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  $PY -c "import jax, flax, optax, torch; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'torch', torch.__version__, jax.devices())"; } > "$OUT/versions.txt" 2>&1
cat "$OUT/versions.txt"
start=$(date +%s)
GBAS_HYPOTHESIS_PROFILE=quick timeout 100 $PY -m pytest -q -p no:cacheprovider tests/test_kept.py 2>&1 | tail -5 > "$OUT/pytest_kept.txt"
tail -2 "$OUT/pytest_kept.txt"
timeout 230 $PY -m benchmarks --device cuda --skip-sweeps --models dcgan-mnist,dcgan64 --precision highest \
  --out "$OUT/bench" --no-progress > "$OUT/bench_log.txt" 2>&1
tail -4 "$OUT/bench_log.txt"
timeout 150 $PY -m benchmarks.pggan_gpu --precision highest --out "$OUT/pggan256.json" >> "$OUT/bench_log.txt" 2>&1
tail -5 "$OUT/bench_log.txt"
echo "total $(( $(date +%s) - start )) s"
