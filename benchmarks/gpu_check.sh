#!/usr/bin/env bash
# GPU check of the core engine: the test suite, egbas timings, the conv-gradient
# loop benchmark. Results go to $OUT (default out/gpu). Needs jax with CUDA, flax,
# optax, orbax-checkpoint, pytest, hypothesis (the lent GPU image has them).
#   bash benchmarks/gpu_check.sh
set -uo pipefail
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
$PY -c "import jax, flax, optax, hypothesis; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())" 2>&1 | tee "$OUT/versions.txt"
start=$(date +%s)
GBAS_HYPOTHESIS_PROFILE=quick timeout 300 $PY -m pytest -q -p no:cacheprovider tests 2>&1 | tail -40 | tee "$OUT/pytest.txt"
echo "pytest wall: $(( $(date +%s) - start )) s" | tee -a "$OUT/pytest.txt"
# Bit-identity again with XLA's deterministic GPU ops, in case the default run differs.
XLA_FLAGS=--xla_gpu_deterministic_ops=true timeout 60 $PY -m pytest -q -p no:cacheprovider \
  tests/test_egbas.py -k bit_identical 2>&1 | tail -3 | tee -a "$OUT/pytest.txt"
timeout 150 $PY -m benchmarks.time_egbas --batch 8 --out "$OUT/time_egbas_b8.json" > /dev/null 2>"$OUT/time_b8.err"
timeout 150 $PY -m benchmarks.time_egbas --batch 64 --repeats 3 --out "$OUT/time_egbas_b64.json" > /dev/null 2>"$OUT/time_b64.err"
timeout 60 $PY -m benchmarks.conv_grad_in_loop 2>&1 | tee "$OUT/conv_grad_in_loop.txt"
echo done
