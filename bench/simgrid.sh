#!/usr/bin/env bash
# bench/simgrid.sh — placements checked against simulated communication (docs/simgrid.md).
#
# The unchanged training code runs under SimGrid's SMPI on a platform that is the
# chip of the config (`spikemesh platform`: XY routes over directed links that
# flows share max-min fairly), with chip.compute: flops, so that compute costs
# the same simulated time as in the emulator. For each run the table shows, per
# epoch, the simulated seconds (SimGrid), the emulated seconds (the engine's
# clock, which does not model link sharing) and the predicted seconds (the cost
# model's predicted_time, which charges the busiest link), with hop-bytes.
#
#   1. the online re-placement of BENCHMARKS.md on 4 ranks (fmnist_mlp, 2x2, six
#      hidden LCs on one core, sa re-places after epoch 1);
#   2. fmnist_csnn on 64 ranks (8x8), one LC per core, on the placements of
#      sequential, zigzag and rl (from `spikemesh place`), 1280 training samples;
#   3. a wide MLP (bench/placement/configs/wide_mlp.yaml) on 256 ranks (16x16),
#      sequential and rl placements, 256 synthetic samples;
#   4. online re-placement at scale: the CSNN of 2. starts on sequential's
#      placement, rl re-places it after epoch 1 (2 epochs of 1280 samples).
#
# usage: bench/simgrid.sh [OUT_DIR]   (default bench-out/simgrid; builds build-smpi/)
# environment: SPIKEMESH (default build/spikemesh), SPIKEMESH_SMPI (default build-smpi/spikemesh),
#              CASES ("replace csnn64 wide256 online64" by default)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/bench-out/simgrid}
bin=${SPIKEMESH:-$root/build/spikemesh}
smpi_bin=${SPIKEMESH_SMPI:-$root/build-smpi/spikemesh}
cases=${CASES:-replace csnn64 wide256 online64}
mkdir -p "$out"
export OPENBLAS_NUM_THREADS=1
[[ -x $smpi_bin ]] || "$root/scripts/build-smpi" >/dev/null

# values of a 1-D dataset of an HDF5 file, space-separated
col() { h5dump -y -w 0 -d "/$2" "$1" | awk '/^   DATA \{/ { getline; gsub(/[ ,]+/, " "); sub(/^ /, ""); print; exit }'; }

# run NAME NP PLATFORM_DIR CONFIG [--set ...]: train under smpirun, print one row per epoch
run() {
  local name=$1 np=$2 plat=$3 config=$4
  shift 4
  local t0=$SECONDS
  (cd "$root" && smpirun -np "$np" -platform "$plat/platform.xml" -hostfile "$plat/hostfile" \
      --cfg=network/model:CM02 "$smpi_bin" train -c "$config" --set chip.compute=flops "$@" -q \
      --out "$out/$name") >"$out/$name.log" 2>&1 || { tail -20 "$out/$name.log"; exit 1; }
  local m=$out/$name/metrics.h5
  paste -d' ' <(col "$m" epoch | tr ' ' '\n') <(col "$m" wall_seconds | tr ' ' '\n') \
    <(col "$m" emulated_seconds | tr ' ' '\n') <(col "$m" predicted_seconds | tr ' ' '\n') \
    <(col "$m" hop_bytes | tr ' ' '\n') |
    awk -v n="$name" -v t=$((SECONDS - t0)) '{ printf "| %s | %d | %.4g | %.4g | %.4g | %.3e | %.2f | %.2f | %d s |\n",
                                                n, $1 + 1, $2, $3, $4, $5, $2 / $4, $2 / $3, t }'
}

echo "| run | epoch | SimGrid s | emulated s | predicted s | hop-bytes | SimGrid / predicted | SimGrid / emulated | real time |"
echo "|---|---|---|---|---|---|---|---|---|"

if [[ " $cases " == *" replace "* ]]; then
  sets=(--set chip.mesh_w=2 --set chip.mesh_h=2 --set model.layers.0.lcs=6 --set pipeline.schedule=async
        --set pipeline.microbatches=4 --set train.epochs=2 --set data.train_limit=12800)
  "$bin" platform -c "$root/configs/fmnist_mlp.yaml" "${sets[@]}" --set chip.compute=flops --out "$out/mesh2x2" >/dev/null
  printf '3 3 3 3 3 3 0\n' >"$out/bad.txt"   # six hidden LCs on core 3, the output LC on core 0
  printf 'PATH lc_core\nINPUT-CLASS TEXTIN\nRANK 1\nDIMENSION-SIZES 7\nOUTPUT-CLASS IN\nOUTPUT-SIZE 32\n' >"$out/bad.conf"
  rm -f "$out/bad.h5"
  h5import "$out/bad.txt" -c "$out/bad.conf" -o "$out/bad.h5"
  run replace 4 "$out/mesh2x2" configs/fmnist_mlp.yaml "${sets[@]}" --set placement.file="$out/bad.h5" \
    --set placement.method=sa --set placement.every=1
fi

if [[ " $cases " == *" csnn64 "* ]]; then
  sets=(--set chip.mesh_w=8 --set chip.mesh_h=8 --set partition.max_lcs=64)
  "$bin" platform -c "$root/configs/fmnist_csnn.yaml" "${sets[@]}" --set chip.compute=flops --out "$out/mesh8x8" >/dev/null
  for method in sequential zigzag rl; do
    (cd "$root" && "$bin" place -c configs/fmnist_csnn.yaml "${sets[@]}" --method $method --budget 20000 \
        --out "$out/csnn64-$method.h5" >/dev/null)
    run csnn64-$method 64 "$out/mesh8x8" configs/fmnist_csnn.yaml "${sets[@]}" --set train.epochs=1 \
      --set data.train_limit=1280 --set data.test_limit=100 --set placement.file="$out/csnn64-$method.h5"
  done
fi

if [[ " $cases " == *" wide256 "* ]]; then
  config=bench/placement/configs/wide_mlp.yaml
  sets=(--set chip.mesh_w=16 --set chip.mesh_h=16 --set partition.max_lcs=256)
  "$bin" platform -c "$root/$config" "${sets[@]}" --set chip.compute=flops --out "$out/mesh16x16" >/dev/null
  for method in sequential rl; do
    (cd "$root" && "$bin" place -c $config "${sets[@]}" --method $method --budget 20000 \
        --out "$out/wide256-$method.h5" >/dev/null)
    run wide256-$method 256 "$out/mesh16x16" $config "${sets[@]}" --set placement.file="$out/wide256-$method.h5"
  done
fi

if [[ " $cases " == *" online64 "* ]]; then
  sets=(--set chip.mesh_w=8 --set chip.mesh_h=8 --set partition.max_lcs=64)
  "$bin" platform -c "$root/configs/fmnist_csnn.yaml" "${sets[@]}" --set chip.compute=flops --out "$out/mesh8x8" >/dev/null
  (cd "$root" && "$bin" place -c configs/fmnist_csnn.yaml "${sets[@]}" --method sequential \
      --out "$out/csnn64-sequential.h5" >/dev/null)
  run online64 64 "$out/mesh8x8" configs/fmnist_csnn.yaml "${sets[@]}" --set train.epochs=2 \
    --set data.train_limit=1280 --set data.test_limit=100 --set placement.file="$out/csnn64-sequential.h5" \
    --set placement.method=rl --set placement.every=1
fi
