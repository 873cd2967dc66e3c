#!/usr/bin/env bash
# Training throughput and peak memory of spikemesh against PyTorch on the same
# network, T, batch, data and threads, measured back to back in one run
# (issue 6; BENCHMARKS.md, "Training throughput against PyTorch").
#
#   bench/throughput.sh [CONFIG ...]       default: configs/fmnist_mlp.yaml configs/fmnist_csnn.yaml
#   BATCHES=20 T=25 THREADS="1 2" bench/throughput.sh
#
# For each config and thread count:
#   spikemesh  one epoch over BATCHES minibatches (data.train_limit), samples/s of the
#              training loop (the epoch line), peak RSS of the whole command (/usr/bin/time)
#   snntorch   bench/torch_throughput.py --style snntorch: a Python loop over time steps with
#              every layer inside it, as snnTorch tutorials write training
#   fast       --style fast: the fastest PyTorch formulation we have (layer by layer over all T,
#              the static current once, each layer's LIF as one autograd Function)
#   fast-spin  the same without OMP_WAIT_POLICY=PASSIVE (OpenMP threads spin while waiting)
# PyTorch runs 2 warm-up batches, then BATCHES timed ones, on the first (BATCHES + 2) * batch
# training images (--train-limit), the same data spikemesh holds. OMP_WAIT_POLICY=PASSIVE,
# OPENBLAS/OMP threads = the thread count, for every run but fast-spin.
# Needs SPIKEMESH_WITH_TORCH=1 scripts/install-deps.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${SPIKEMESH:-$root/build/spikemesh}"
batches="${BATCHES:-20}"
T="${T:-25}"
threads_list="${THREADS:-1 2}"
configs=("$@")
((${#configs[@]})) || configs=("$root/configs/fmnist_mlp.yaml" "$root/configs/fmnist_csnn.yaml")
[[ -x "$bin" ]] || { echo "build first: scripts/build" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

json() { sed -n "s/.*\"$1\": \([0-9.]*\).*/\1/p" "$2"; }
torch_run() { # style threads policy -> samples/s and MB in $tmp/t.json
  local style=$1 threads=$2 policy=$3
  OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads /usr/bin/python3 "$root/bench/torch_throughput.py" \
    --config "$cfg" --style "$style" -T "$T" --batches "$batches" --warmup 2 --threads "$threads" \
    --train-limit $(((batches + 2) * batch)) --omp-wait-policy "$policy" > "$tmp/t.json"
  printf "%s %s" "$(json samples_per_s "$tmp/t.json")" "$(json peak_rss_mb "$tmp/t.json")"
}

printf "| config (T = %s) | threads | spikemesh samples/s | MB | snntorch samples/s | MB | fast samples/s | MB | fast-spin samples/s | spikemesh / snntorch | spikemesh / fast | memory spikemesh / fast |\n" "$T"
printf "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
for cfg in "${configs[@]}"; do
  batch=$(awk '/^ *batch:/ {print $2; exit}' "$cfg")
  for threads in $threads_list; do
    OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=$threads /usr/bin/time -f "%M" -o "$tmp/rss" \
      "$bin" train -c "$cfg" -q --out "$tmp/run" --set train.epochs=1 --set model.time_steps="$T" \
      --set data.train_limit=$((batches * batch)) --set data.test_limit=100 --set train.threads="$threads" \
      > "$tmp/sm.log" 2>&1
    rm -rf "$tmp/run"
    sm=$(sed -n 's/.*epoch 1\/1.*(\([0-9.]*\) samples\/s).*/\1/p' "$tmp/sm.log" | head -1)
    sm_mb=$(awk '{printf "%.0f", $1 / 1024}' "$tmp/rss")
    read -r snn snn_mb <<<"$(torch_run snntorch "$threads" passive)"
    read -r fast fast_mb <<<"$(torch_run fast "$threads" passive)"
    read -r spin _ <<<"$(torch_run fast "$threads" default)"
    awk -v c="$(basename "$cfg")" -v t="$threads" -v sm="$sm" -v smm="$sm_mb" -v s="$snn" -v sm2="$snn_mb" \
        -v f="$fast" -v fm="$fast_mb" -v sp="$spin" 'BEGIN {
      printf "| %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.2fx | %.2fx | %.2fx |\n",
             c, t, sm, smm, s, sm2, f, fm, sp, sm / s, sm / f, smm / fm }'
  done
done
echo
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg); $batches batches of each after PyTorch's 2 warm-up ones"
