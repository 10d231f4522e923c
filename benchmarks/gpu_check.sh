#!/usr/bin/env bash
# The GPU check of issues #3 and #4, as one script for a CUDA machine with
# torch and JAX but no Keras and no network (the project's device machine).
#
# Prepare here (downloads the missing wheels into .whl/, git-ignored):
#   bash ../shared/tools/device-wheels.sh pytest pluggy iniconfig packaging
# then run this script there with `.whl` carried along. It installs the
# wheels, runs a quick test pass on JAX and PyTorch, then the GPU benchmarks:
# multi-head attention against Keras' (bf16, batch 8, T=4096, 16 heads x 64),
# cached generation, and the sliding window against the bare fused kernels.
# Tables go to stdout, JSON to $OUT (or build/gpu-check).
#
# GPU_CHECK_SMALL=1 shrinks every size so that the script can be tried on a
# CPU first; GPU_CHECK_SKIP_TESTS=1 runs the benchmarks only.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-build/gpu-check}
mkdir -p "$OUT"

if ls .whl/*.whl > /dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
command -v nvidia-smi > /dev/null && nvidia-smi -L
"$PY" -c "import keras, jax, torch; print('keras', keras.__version__, '| jax', jax.__version__, jax.devices(), '| torch', torch.__version__, 'cuda', torch.cuda.is_available())"

if [ "${GPU_CHECK_SMALL:-0}" = 1 ]; then
  MHA=(--batch 1 --length 128 --heads 4 --dim 64 --generate 32 --generate-batch 1 --repeats 2)
  WINDOW=(--heads 2 --head-dim 16 --window 16 --lengths 256 512 --repeats 2 --time-budget 1)
else
  MHA=(--batch 8 --length 4096 --heads 16 --dim 1024 --generate 512 --generate-batch 1,8)
  WINDOW=(--heads 16 --head-dim 64 --window 256 --lengths 4096 16384 65536 --time-budget 5)
fi

status=0
if [ "${GPU_CHECK_SKIP_TESTS:-0}" != 1 ]; then
  for backend in jax torch; do
    echo "== quick tests: $backend"
    # The Keras-contract checks (save/load, dtype policies) are left to CI.
    KERAS_BACKEND=$backend timeout 180 "$PY" -m pytest -q -x -p no:cacheprovider \
      -k "not keras_contract" tests/core/test_attend.py tests/core/test_fused_window.py \
      tests/layers/test_multi_head.py tests/test_decoding.py tests/decoding 2>&1 | tail -4
    status=$((status | PIPESTATUS[0]))
  done
fi

echo "== multi_head.py (mha, generate), bfloat16"
timeout 300 "$PY" benchmarks/multi_head.py --backend jax,torch --dtype bfloat16 \
  --parts mha,generate "${MHA[@]}" --output "$OUT/multi_head_gpu.json" 2>&1 \
  | grep -v '^{' || status=1

for backend in jax torch; do
  echo "== sliding_window.py ($backend), bfloat16"
  timeout 240 "$PY" benchmarks/sliding_window.py --backend "$backend" --dtype bfloat16 \
    "${WINDOW[@]}" --output-dir "$OUT/sliding_window_$backend" 2>&1 | tail -25 || status=1
done
exit $status
