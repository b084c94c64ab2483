#!/usr/bin/env bash
# The GPU run of the paper-scale PGGAN checks, in one call that fits a lent machine's
# 10-minute command limit (the whole script stops itself after $DEADLINE seconds;
# every stage is time-boxed and writes as it goes).
#   OUT=DIR bash benchmarks/gpu.sh
#   OUT=DIR CACHE_IN=DIR bash benchmarks/gpu.sh     # a rerun: DIR holds a first run's xla-cache.tgz.*
#   SMALL=1 JAX_PLATFORMS=cpu OUT=DIR bash benchmarks/gpu.sh    # the CPU dry run (tiny sizes)
#   STAGES="memory batch" ...                      # only these stages (default: all five)
# Stages:
#   versions  nvidia-smi, jax / flax / optax / torch versions            -> versions.txt
#   warm      in parallel, one process per (layer, precision): every program of the
#             precision stage runs once, filling JAX's persistent compilation cache
#             (and XLA's autotuning cache); beside them, egbas_batch at each of
#             $BATCH_SIZES queries (its peak memory includes the autotuner's scratch:
#             autotuning_B.json).  Each process gets a share of the device memory
#             (XLA_PYTHON_CLIENT_MEM_FRACTION), so that none starves another.
#   memory    fresh processes, preallocation off, programs and autotuning from the
#             cache: the peak device memory of egbas_batch per batch size, and
#             compiled_batch_bytes (XLA's buffer assignment) beside it  -> memory_B.json
#   precision 256x256 PGGAN, layers 2 / 4 / 6: egbas at float32 / tf32 / bfloat16 at
#             equal BerOpt steps, the float32 noise floor, the converged BerOpt at
#             tf32 and bfloat16; timed after compilation                   -> precision.json
#   batch     egbas_batch of $BATCH_QUERIES (8) queries against as many single calls -> batch.json
#   bench     python -m benchmarks on CUDA: dcgan-mnist GB-RRT targets and end to end
#             over 8 queries against batched_torch (PyTorch on the same GPU) -> bench/
#   stylegan2 a 256x256 config-f-width StyleGAN2: egbas per layer and space (Z, W),
#             timed after compilation, GB-RRT alone beside it
#             (benchmarks/stylegan2_gpu.py)                              -> stylegan2.json
# Everything lands in $WORK/results and is packed into $OUT/results.tgz after each
# stage; the compilation cache is packed into $OUT/xla-cache.tgz.* (15 MiB parts) at
# the end when it is small enough to come back.
set -uo pipefail
OUT=${OUT:-out/gpu}
WORK=${WORK:-/tmp/gbas-gpu}
DEADLINE=${DEADLINE:-480}
LAYERS=${LAYERS:-2 4 6}
PY=${PYTHON:-python3}
if [ -n "${SMALL:-}" ]; then
  PGGAN_ARGS=${PGGAN_ARGS:---resolution 32 --max-width 32 --ber-steps 50 --repeats 1}
  BENCH_ARGS=${BENCH_ARGS:---quick}
  BATCH_SIZES=${BATCH_SIZES:-1 2 4}
  BATCH_QUERIES=${BATCH_QUERIES:-2}
  SG2_ARGS=${SG2_ARGS:---resolution 32 --channel-max 32 --latent 64 --layers 2 --float32-layer 2 --repeats 1}
fi
SG2_ARGS=${SG2_ARGS:-}
PGGAN_ARGS=${PGGAN_ARGS:-}
STAGES=" ${STAGES:-warm memory precision batch bench stylegan2} "
BENCH_ARGS=${BENCH_ARGS:-}
BATCH_SIZES=${BATCH_SIZES:-1 8 32}
BATCH_QUERIES=${BATCH_QUERIES:-8}
RES=$WORK/results
CACHE=$WORK/xla-cache
rm -rf "$RES"
mkdir -p "$OUT" "$RES" "$CACHE"
start=$(date +%s)
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
# JAX's persistent compilation cache through its environment variables (what
# gbas_jax.io.cache.enable_compile_cache does from Python), every program cached.
export JAX_COMPILATION_CACHE_DIR=$CACHE
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=0
if [ -n "${CACHE_IN:-}" ] && ls "$CACHE_IN"/xla-cache.tgz.* > /dev/null 2>&1; then
  cat "$CACHE_IN"/xla-cache.tgz.* | tar xzf - -C "$WORK" && echo "cache in: $(ls "$CACHE" | wc -l) entries"
fi

pack() { tar czf "$OUT/results.tgz" -C "$WORK" results; }
left() { echo $(( DEADLINE - ($(date +%s) - start) )); }
# stage NAME SECONDS CMD...: run CMD time-boxed to min(SECONDS, time left), log to NAME.log
stage() {
  local name=$1 want=$2; shift 2
  [[ $STAGES == *" $name "* ]] || return 0
  local l; l=$(left); (( l < want )) && want=$l
  if (( want < 15 )); then echo "[$name] skipped: $l s left" | tee -a "$RES/skipped.txt"; return; fi
  local t=$(date +%s)
  timeout "$want" "$@" > "$RES/$name.log" 2>&1
  local rc=$?
  echo "[$name] rc $rc, $(( $(date +%s) - t )) s (box $want s)" | tee -a "$RES/stages.txt"
  pack
}

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
  $PY -c "import jax, jaxlib, flax, optax; print('jax', jax.__version__, 'jaxlib', jaxlib.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())"
  $PY -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())" 2>/dev/null; } > "$RES/versions.txt" 2>&1
cat "$RES/versions.txt"

# warm: 3 processes per layer (float32 with its noise floor; tf32 and bfloat16 each
# with their converged run) and the memory processes, all at once, each time-boxed.
if [[ $STAGES == *" warm "* ]]; then
warm_box=$(left); (( warm_box > 170 )) && warm_box=170
t=$(date +%s)
pids=()
bg() {  # bg NAME FRACTION ARGS...: one time-boxed background process, preallocation off
  local name=$1 frac=$2; shift 2
  XLA_PYTHON_CLIENT_PREALLOCATE=false XLA_PYTHON_CLIENT_MEM_FRACTION=$frac \
    timeout "$warm_box" $PY -m benchmarks.pggan_gpu "$@" $PGGAN_ARGS \
    > "$RES/$name.log" 2>&1 &
  pids+=($!)
}
for layer in $LAYERS; do
  bg "warm_${layer}_float32" 0.05 precision --warm-only --layers "$layer" --precisions float32 --default-precisions \
    --out "$RES/warm_${layer}_float32.json"
  for p in tf32 bfloat16; do
    bg "warm_${layer}_$p" 0.05 precision --warm-only --layers "$layer" --precisions "$p" --default-precisions "$p" \
      --out "$RES/warm_${layer}_$p.json"
  done
done
for b in $BATCH_SIZES; do
  bg "autotuning_$b" 0.15 memory --queries "$b" --layers $LAYERS --out "$RES/autotuning_$b.json"
done
bad=0
for pid in "${pids[@]}"; do wait "$pid" || bad=$((bad + 1)); done
echo "[warm] ${#pids[@]} processes, $bad failed, $(( $(date +%s) - t )) s (box $warm_box s)" | tee -a "$RES/stages.txt"
pack
fi
memory() {  # every batch size at once, each in its own fresh process
  local pids=() bad=0
  for b in $BATCH_SIZES; do
    XLA_PYTHON_CLIENT_PREALLOCATE=false $PY -m benchmarks.pggan_gpu memory --compiled --queries "$b" --layers $LAYERS \
      --out "$RES/memory_$b.json" $PGGAN_ARGS > "$RES/memory_$b.log" 2>&1 & pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || bad=$((bad + 1)); done
  return $bad
}
export -f memory
export BATCH_SIZES LAYERS PY RES PGGAN_ARGS
stage memory 90 bash -c memory
stage precision 150 $PY -m benchmarks.pggan_gpu precision --layers $LAYERS --out "$RES/precision.json" $PGGAN_ARGS
stage batch 90 $PY -m benchmarks.pggan_gpu batch --queries "$BATCH_QUERIES" --layers $LAYERS --out "$RES/batch.json" $PGGAN_ARGS
stage bench 120 $PY -m benchmarks --device cuda --skip-sweeps --models dcgan-mnist --only rrt,batch \
  --e2e-queries 8 --precision highest --out "$RES/bench" --no-progress $BENCH_ARGS
# One process (two side by side time each other's compilation): layers outer, spaces inner.
stage stylegan2 420 env XLA_PYTHON_CLIENT_PREALLOCATE=false $PY -m benchmarks.stylegan2_gpu --split \
  --out "$RES/stylegan2.json" $SG2_ARGS
[[ $STAGES == *" precision "* ]] && $PY -m benchmarks.pggan_gpu summary "$RES" | tee "$RES/summary.txt"
pack
size=$(du -sm "$CACHE" | cut -f1)
if (( size <= 150 )); then
  tar czf - -C "$WORK" xla-cache | split -b 15M - "$OUT/xla-cache.tgz."
  parts=$(ls "$OUT"/xla-cache.tgz.* | wc -l)
  if (( parts > 4 )); then rm -f "$OUT"/xla-cache.tgz.*; echo "cache: $parts parts of 15 MiB, too many to come back"; fi
fi
echo "cache: $(ls "$CACHE" | wc -l) entries, ${size} MiB"
echo "total $(( $(date +%s) - start )) s"
