#!/usr/bin/env bash
# Training throughput (samples/s) of spikemesh and of the PyTorch reference on the
# same network, T, batch size and thread count, measured back to back in one run.
#
#   bench/throughput.sh [CONFIG ...]        default: configs/fmnist_mlp.yaml configs/fmnist_csnn.yaml
#   BATCHES=40 THREADS="1 2" bench/throughput.sh configs/fmnist_mlp.yaml
#
# spikemesh: one epoch over BATCHES minibatches of Fashion-MNIST (samples/s over the
# training loop only, from the epoch line). PyTorch: bench/torch_throughput.py, the same
# math in float32 autograd, with Adam; "torch" recomputes the first layer's current at
# every step as a per-step loop does, "torch-reuse" computes it once per minibatch as
# spikemesh does. OMP_WAIT_POLICY=PASSIVE for both (spinning OpenMP threads slow small
# kernels badly on shared VMs). Needs SPIKEMESH_WITH_TORCH=1 scripts/install-deps.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${SPIKEMESH:-$root/build/spikemesh}"
batches="${BATCHES:-30}"
threads_list="${THREADS:-1 2}"
configs=("$@")
((${#configs[@]})) || configs=("$root/configs/fmnist_mlp.yaml" "$root/configs/fmnist_csnn.yaml")
[[ -x "$bin" ]] || { echo "build first: scripts/build" >&2; exit 1; }
export OMP_WAIT_POLICY=PASSIVE
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

printf "%-22s %7s %10s %12s %12s %14s %9s %9s\n" config threads batch spikemesh torch torch-reuse ratio ratio-reuse
for cfg in "${configs[@]}"; do
  batch=$(awk '/^ *batch:/ {print $2; exit}' "$cfg")
  for threads in $threads_list; do
    export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
    "$bin" train -c "$cfg" -q --out "$tmp/run" --set train.epochs=1 \
      --set data.train_limit=$((batches * batch)) --set data.test_limit=100 > "$tmp/sm.log" 2>&1
    sm=$(sed -n 's/.*(\([0-9.]*\) samples\/s).*/\1/p' "$tmp/sm.log" | tail -1)
    t1=$(/usr/bin/python3 "$root/bench/torch_throughput.py" --config "$cfg" --batches "$batches" \
           --threads "$threads" | sed -n 's/.*"samples_per_s": \([0-9.]*\).*/\1/p')
    t2=$(/usr/bin/python3 "$root/bench/torch_throughput.py" --config "$cfg" --batches "$batches" \
           --threads "$threads" --reuse-static | sed -n 's/.*"samples_per_s": \([0-9.]*\).*/\1/p')
    printf "%-22s %7s %10s %12.0f %12.0f %14.0f %8.2fx %8.2fx\n" "$(basename "$cfg")" "$threads" "$batch" \
      "$sm" "$t1" "$t2" "$(echo "$sm / $t1" | bc -l)" "$(echo "$sm / $t2" | bc -l)"
  done
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
