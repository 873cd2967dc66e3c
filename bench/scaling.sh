#!/usr/bin/env bash
# How training cost grows with the time steps T and with the synapse count
# (issue 6; BENCHMARKS.md, "How cost grows"): fmnist_mlp (784-H-10) on one rank,
# T = 8, 25, 100 at H = 1000, and H = 256 ... 4096 at T = 25. For each: samples/s of
# the training loop, peak RSS, and the BPTT state the arena held per neuron per
# time step per sample. Writes OUT/scaling.csv, OUT/scaling.png, and a markdown
# table on stdout.
#
#   bench/scaling.sh [OUT_DIR]        BATCHES=10 THREADS=1 (environment)
# Needs h5py and matplotlib (SPIKEMESH_WITH_TORCH=1 scripts/install-deps).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${SPIKEMESH:-$root/build/spikemesh}"
out="${1:-$root/bench-out/scaling}"
batches="${BATCHES:-10}"
threads="${THREADS:-1}"
mkdir -p "$out"
csv="$out/scaling.csv"
echo "T,hidden,synapses,samples_per_s,peak_rss_mb,bptt_bytes_per_neuron_step" > "$csv"
run() { # T H
  local T=$1 H=$2 dir="$out/run-T$1-H$2"
  rm -rf "$dir"
  OPENBLAS_NUM_THREADS=$threads /usr/bin/time -f "%M" -o "$out/rss" "$bin" train -c "$root/configs/fmnist_mlp.yaml" \
    -q --out "$dir" --set train.epochs=1 --set model.time_steps="$T" --set model.layers.0.out="$H" \
    --set data.train_limit=$((batches * 128)) --set data.test_limit=100 --set train.threads="$threads" \
    > "$out/log" 2>&1
  local sps rss
  sps=$(sed -n 's/.*epoch 1\/1.*(\([0-9.]*\) samples\/s).*/\1/p' "$out/log" | head -1)
  rss=$(awk '{printf "%.1f", $1 / 1024}' "$out/rss")
  /usr/bin/python3 - "$dir/metrics.h5" "$T" "$H" "$sps" "$rss" >> "$csv" <<'EOF'
import sys, h5py
path, T, H, sps, rss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
with h5py.File(path, "r") as f:
    arena = float(f["/stats/core_peak_bytes"][0].sum())   # one rank: its LCs' state
n_param = H * 784 + H + 10 * H + 10                     # weights and biases of 784-H-10
state = arena - 16 * n_param                             # minus parameters, gradients, moments
B = 128                                                  # sequential schedule: one microbatch of 128 in flight
print(f"{T},{H},{784 * H + 10 * H},{sps},{rss},{state / ((H + 10) * T * B):.4f}")
EOF
  rm -rf "$dir"
}
for T in 8 25 100; do run "$T" 1000; done
for H in 256 512 2048 4096; do run 25 "$H"; done

/usr/bin/python3 - "$csv" "$out/scaling.png" <<'EOF'
import csv, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rows = [dict((k, float(v)) for k, v in r.items()) for r in csv.DictReader(open(sys.argv[1]))]
byT = sorted((r for r in rows if r["hidden"] == 1000), key=lambda r: r["T"])
byH = sorted((r for r in rows if r["T"] == 25), key=lambda r: r["synapses"])
print("| T | hidden | synapses | samples/s | ms per sample | peak RSS MB | BPTT bytes per neuron per step per sample |")
print("|---|---|---|---|---|---|---|")
for r in sorted(rows, key=lambda r: (r["hidden"], r["T"])):
    print(f"| {r['T']:.0f} | {r['hidden']:.0f} | {r['synapses']:.0f} | {r['samples_per_s']:.0f} | "
          f"{1000 / r['samples_per_s']:.3f} | {r['peak_rss_mb']:.0f} | {r['bptt_bytes_per_neuron_step']:.3f} |")
fig, ax = plt.subplots(1, 2, figsize=(10, 4))
for a, rs, key, label in ((ax[0], byT, "T", "time steps T (hidden 1000)"),
                          (ax[1], byH, "synapses", "synapses (T = 25; hidden 256 ... 4096)")):
    x = [r[key] for r in rs]
    y = [1000 / r["samples_per_s"] for r in rs]
    a.plot(x, y, "o-", label="measured")
    k = y[-1] / x[-1]  # the line through the origin and the largest point
    a.plot([0, x[-1]], [0, k * x[-1]], "--", color="gray", label="proportional")
    a.set_xlabel(label)
    a.set_ylabel("ms per training sample")
    a.set_xlim(left=0); a.set_ylim(bottom=0)
    a.grid(alpha=0.3); a.legend()
fig.suptitle("spikemesh, fmnist_mlp (784-H-10), one rank, batch 128")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=100)
EOF
echo "wrote $csv and $out/scaling.png"
