#!/bin/bash
# Which start and input size a laptop CPU should train at, at equal CPU minutes (docs/results/table-in-small.md):
# four RLE runs of about 20 CPU minutes each on SynthPose's photo style, two at a time, each on one core
# (OMP_NUM_THREADS=1, no loader workers), then scored on a fresh set none of them saw. About 45 minutes on 2 cores.
#   bash benchmarks/cpu_budget.sh            # writes /tmp/cpu_budget/{NAME/, NAME.log, table.md}
# The budgets come from a pilot's seconds per step on one core (ResNet-18 64x48 0.40, EfficientNet-Lite0 96x72 0.66,
# ResNet-18 96x72 0.73, EfficientNet-Lite0 128x96 1.17): epochs of 150 steps of 32 pictures, augmentation on,
# the learning rate x0.1 at three quarters of the run and at its last epoch.
set -eu
OUT=${OUT:-/tmp/cpu_budget}; DATA=$OUT/synthpose_photo
mkdir -p "$OUT"
[ -d "$DATA" ] || python -m rlelab synthpose --out "$DATA" --n-train 4000 --n-val 150 --seed 0 --style photo
export OMP_NUM_THREADS=1
run() {  # NAME CORE ARGS...
  name=$1; core=$2; shift 2
  /usr/bin/time -f "$name %e s" taskset -c "$core" python -m rlelab train --config configs/synthpose_res18_rle.yaml \
    --data="$DATA" --augment=true --workers=0 --max_steps_per_epoch=150 --eval_every=0 --out="$OUT/$name" "$@" \
    > "$OUT/$name.log" 2>&1
}
LITE="--backbone=efficientnet_lite0 --pretrained=imagenet"
( run r18_64 0 --input_size=[64,48] --epochs=20 --lr_milestones=[15,19]
  run lite0_128 0 --input_size=[128,96] $LITE --epochs=7 --lr_milestones=[5,6] ) &
( run lite0_96 1 --input_size=[96,72] $LITE --epochs=12 --lr_milestones=[9,11]
  run r18_96 1 --input_size=[96,72] --epochs=11 --lr_milestones=[8,10] ) &
wait
grep -h " s$" "$OUT"/*.log
python benchmarks/noise_floor.py "$OUT"/{r18_64,r18_96,lite0_96,lite0_128}/last.pt --style photo --out "$OUT/table.md"
