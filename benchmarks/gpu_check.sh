#!/usr/bin/env bash
# GPU check: the test suite, egbas timings on the shipped and a random model, and
# `gbas-jax sample`. Results go to $OUT (default out/gpu). Needs jax with CUDA, flax,
# optax, orbax-checkpoint, pytest, hypothesis, mlxtend (the lent GPU image has all
# but mlxtend: carry its wheel in .whl/ and it is installed to /tmp/site).
#   bash benchmarks/gpu_check.sh
set -uo pipefail
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
if ls .whl/*.whl > /dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
{ nvidia-smi; $PY -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())"; } > "$OUT/versions.txt" 2>&1
start=$(date +%s)
GBAS_HYPOTHESIS_PROFILE=quick timeout 300 $PY -m pytest -q -p no:cacheprovider tests 2>&1 | tail -60 > "$OUT/pytest.txt"
echo "pytest wall: $(( $(date +%s) - start )) s" >> "$OUT/pytest.txt"
tail -3 "$OUT/pytest.txt"
for model in dcgan-mnist random; do
  timeout 150 $PY -m benchmarks.time_egbas --model $model --batch 64 --repeats 5 \
    --out "$OUT/time_egbas_$model.json" > /dev/null 2>>"$OUT/errors.txt"
done
( time $PY -m gbas_jax.cli sample --no-progress --out "$OUT/sample" ) > "$OUT/sample_cli.txt" 2>&1
rm -f "$OUT"/sample/*.npy
tail -12 "$OUT/sample_cli.txt"
echo done
