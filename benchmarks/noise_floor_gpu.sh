#!/bin/bash
# The GPU run of "Pose models near the noise floor" (docs/results/table-in-small.md): five SynthPose models side by side on one GPU, exported
# to fp16 checkpoints under $OUT named NAME_$STYLE.pt (split into 15 MB parts where larger), then scored here with
#   python benchmarks/noise_floor.py CHECKPOINTS --seed 7 --n-val 150 --style $STYLE
# For a machine without network whose Python has torch, torchvision and timm but not pycocotools. Prepare from
# the project root (.gpu/ is git-ignored and travels as a carried folder):
#   echo /.gpu/ >> .git/info/exclude; mkdir -p .gpu
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .gpu pycocotools
#   python -c "import torch; from rlelab.models.efficientnet import imagenet_file as f; \
#     s = torch.load(f('efficientnet_lite0'), weights_only=True); \
#     torch.save({k: v.half() if v.is_floating_point() else v for k, v in s.items()}, '.gpu/lite0_fp16.pth')"
# (float16 keeps the working tree that travels under its 64 MiB). Then on the GPU machine: bash benchmarks/noise_floor_gpu.sh
# (about 9 minutes on an H200 with 16 cores). A dry run on a CPU: TINY=1 OUT=/tmp/gpuout bash benchmarks/noise_floor_gpu.sh
# STYLE=photo trains on SynthPose's photo style instead (the results page's table ran on the flat style, the default).
set -u
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
LOG=$OUT/log.txt
exec > >(tee -a "$LOG") 2>&1
t0=$(date +%s)
say() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
if [ -z "${TINY:-}" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/*.whl || exit 1
  NT=12000; NV=200; EP=24; LIMIT=420; WORKERS=3; BS=64; EXTRA=""
else
  NT=16; NV=6; EP=8; LIMIT=900; WORKERS=1; BS=8; EXTRA="--max_steps_per_epoch=1"
fi
python3 -c "import torch, timm, torchvision; print(torch.__version__, timm.__version__, torchvision.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())"
nproc
STYLE=${STYLE:-flat}
say "generating SynthPose $NT / $NV, $STYLE style"
python3 -m rlelab synthpose --out /tmp/sp_gpu --n-train $NT --n-val $NV --seed 0 --style $STYLE | tail -1
LITE="--backbone=efficientnet_lite0 --pretrained=.gpu/lite0_fp16.pth"
python3 -c "from rlelab.models import build_model; build_model('heatmap', 'efficientnet_lite0', pretrained='.gpu/lite0_fp16.pth')" \
  || { say "EfficientNet-Lite0 does not build here: every run on resnet18"; LITE="--backbone=resnet18"; }
M1=$(( EP * 3 / 4 )); M2=$(( EP - 1 ))
common="--config configs/synthpose_res18_rle.yaml --data=/tmp/sp_gpu --input_size=[128,96] --augment=true --epochs=$EP
        --lr_milestones=[$M1,$M2] --batch_size=$BS --workers=$WORKERS --eval_every=$EP --eval_batch_size=128 $EXTRA"
mkdir -p /tmp/runs
declare -A RUNS=(
  [lite0_rle]="$LITE"
  [res18_rle]="--backbone=resnet18"
  [lite0_laplace]="$LITE --loss=laplace"
  [lite0_l1]="$LITE --loss=l1"
  [lite0_heatmap]="$LITE --head=heatmap"
)
say "training ${!RUNS[*]} for $EP epochs (at most $LIMIT s each)"
pids=()
for name in "${!RUNS[@]}"; do
  timeout $LIMIT python3 -m rlelab train $common ${RUNS[$name]} --out=/tmp/runs/$name > /tmp/runs/$name.log 2>&1 &
  pids+=($!)
done
wait "${pids[@]}"  # not a bare wait: it would wait for the tee of the log as well
say "trained"
for name in "${!RUNS[@]}"; do
  echo "== $name: $(tail -c 400 /tmp/runs/$name.log | tr '\r' '\n' | tail -2)"
  cat /tmp/runs/$name/metrics.csv 2>/dev/null
  ckpt=/tmp/runs/$name/best.pt; [ -f $ckpt ] || ckpt=/tmp/runs/$name/last.pt
  [ -f $ckpt ] || continue
  file=/tmp/runs/${name}_$STYLE.pt
  python3 -m rlelab export --checkpoint $ckpt --out $file
  size=$(stat -c %s $file)
  if [ $size -gt 15000000 ]; then split -b 15000000 -d $file "$OUT/$(basename $file).part"; else cp $file "$OUT/"; fi
done
ls -la "$OUT"
say "done"
