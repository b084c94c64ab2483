#!/usr/bin/env bash
# The GPU run (issue 5): the main comparison of `python -m benchmarks` with PyTorch
# on CUDA and E-GBAS on a full-width 256x256 PGGAN, within 8 minutes on one H100
# (time boxes 150 + 240 s; the H100 took 101 s for the comparison, ~10 s per PGGAN
# query). STAGES="tests bench pggan" adds the kept-path and PGGAN tests (141 s).
# Matmul precision is set explicitly ("highest": float32 everywhere, TF32 off in
# PyTorch); the device name is recorded.
# Results in $OUT. PGGAN_ARGS is passed to benchmarks.pggan_gpu.
#   bash benchmarks/gpu.sh
set -uo pipefail
OUT=${OUT:-out/gpu}
STAGES=${STAGES:-bench pggan}
PGGAN_ARGS=${PGGAN_ARGS:---layers 2 4 6 --queries 2}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  $PY -c "import jax, flax, optax, torch; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'torch', torch.__version__, jax.devices())"; } > "$OUT/versions.txt" 2>&1
cat "$OUT/versions.txt"
start=$(date +%s)
if [[ " $STAGES " == *" tests "* ]]; then
  GBAS_HYPOTHESIS_PROFILE=quick timeout 150 $PY -m pytest -q -p no:cacheprovider tests/test_kept.py tests/test_pggan.py \
    > "$OUT/pytest.txt" 2>&1
  tail -3 "$OUT/pytest.txt"
fi
if [[ " $STAGES " == *" bench "* ]]; then
  timeout 150 $PY -m benchmarks --device cuda --skip-sweeps --models dcgan-mnist,dcgan64 --precision highest \
    --out "$OUT/bench" --no-progress > "$OUT/bench_log.txt" 2>&1
  tail -4 "$OUT/bench_log.txt"
fi
if [[ " $STAGES " == *" pggan "* ]]; then
  timeout 240 $PY -m benchmarks.pggan_gpu --precision highest $PGGAN_ARGS --out "$OUT/pggan256.json" \
    > "$OUT/pggan_log.txt" 2>&1
  tail -5 "$OUT/pggan_log.txt"
fi
echo "total $(( $(date +%s) - start )) s"
