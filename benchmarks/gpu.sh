#!/usr/bin/env bash
# The GPU run: everything the accelerator issues need, in one script that fits a
# 10-minute call (each stage time-boxed; every stage writes as it goes).
#   OUT=... bash benchmarks/gpu.sh
# Stages (STAGES, default "versions precision batch memory bench"):
#   precision  full-width 256x256 PGGAN: egbas per layer at float32 / tf32 / bfloat16
#              (equal BerOpt steps) and the converged default      -> $OUT/pggan_precision.json
#   batch      egbas_batch of $QUERIES PGGAN queries vs single calls -> $OUT/pggan_batch.json
#   memory     peak device memory per batch size, a fresh process each,
#              preallocation off                                      -> $OUT/pggan_memory_B.json
#   bench      python -m benchmarks --skip-sweeps on CUDA (dcgan-mnist end to end over 8
#              queries against batched_torch, time to objective)     -> $OUT/bench/
# The compilation cache lives in $OUT/xla-cache; give a first run's copy as
# CACHE_IN (e.g. a carried folder) and a rerun skips the compilation.
set -uo pipefail
OUT=${OUT:-out/gpu}
STAGES=${STAGES:-versions precision batch memory bench}
QUERIES=${QUERIES:-8}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
# JAX's persistent compilation cache, set through its environment variables (what
# gbas_jax.io.cache.enable_compile_cache does from Python).
export JAX_COMPILATION_CACHE_DIR="$OUT/xla-cache"
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=0
mkdir -p "$JAX_COMPILATION_CACHE_DIR"
if [ -n "${CACHE_IN:-}" ] && [ -d "$CACHE_IN" ]; then cp -r "$CACHE_IN/." "$JAX_COMPILATION_CACHE_DIR/"; fi
run() {  # run SECONDS MODULE ARGS...: a time-boxed python stage
  local secs=$1 name=$2; shift 2
  timeout "$secs" $PY -m "$name" "$@"
}
start=$(date +%s)
if [[ " $STAGES " == *" versions "* ]]; then
  { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
    $PY -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())"
    $PY -c "import torch; print('torch', torch.__version__)" 2>/dev/null; } > "$OUT/versions.txt" 2>&1
  cat "$OUT/versions.txt"
fi
if [[ " $STAGES " == *" precision "* ]]; then
  run 240 benchmarks.pggan_gpu precision --out "$OUT/pggan_precision.json" ${PGGAN_ARGS:-} > "$OUT/precision_log.txt" 2>&1
  tail -4 "$OUT/precision_log.txt"
fi
if [[ " $STAGES " == *" batch "* ]]; then
  run 150 benchmarks.pggan_gpu batch --queries "$QUERIES" --out "$OUT/pggan_batch.json" ${PGGAN_ARGS:-} \
    > "$OUT/batch_log.txt" 2>&1
  tail -2 "$OUT/batch_log.txt"
fi
if [[ " $STAGES " == *" memory "* ]]; then
  for b in 1 2 4 $QUERIES; do
    XLA_PYTHON_CLIENT_PREALLOCATE=false run 60 benchmarks.pggan_gpu memory --queries $b \
      --out "$OUT/pggan_memory_$b.json" ${PGGAN_ARGS:-} >> "$OUT/memory_log.txt" 2>&1
  done
  tail -4 "$OUT/memory_log.txt"
fi
if [[ " $STAGES " == *" bench "* ]]; then
  run 150 benchmarks --device cuda --skip-sweeps --models dcgan-mnist --precision highest \
    --out "$OUT/bench" --no-progress > "$OUT/bench_log.txt" 2>&1
  tail -4 "$OUT/bench_log.txt"
fi
echo "total $(( $(date +%s) - start )) s"
