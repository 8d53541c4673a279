#!/usr/bin/env bash
# Issue 11, one step after another on one core; rerun to resume (finished steps are skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${PYCODEC_DATA:-../shared/data}
base() {  # MODEL DATASET EPOCHS RUN
  [ -f "runs/vgg/$4/baseline.pt" ] || python3 experiments/vgg_baseline.py --model "$1" --dataset "$2" \
    --epochs "$3" --data-dir "$data/$2" --run-dir "runs/vgg/$4"
}
squeeze() {  # MODEL DATASET RUN OUT DENSITY BITS [extra args]
  local model=$1 dataset=$2 run=$3 out=$4 density=$5 bits=$6; shift 6
  [ -f "results/$out.json" ] || python3 experiments/vgg_compress.py --model "$model" --dataset "$dataset" \
    --data-dir "$data/$dataset" --run-dir "runs/vgg/$run" --density "$density" --bits "$bits" \
    --out "results/$out.dcz" "$@"
}
base vgg-19-squeezed mnist 6 vgg19_squeezed_mnist
squeeze vgg-19-squeezed mnist vgg19_squeezed_mnist vgg19_squeezed_mnist \
  "features.*=0.12,features.0.*=0.5,classifier=0.2" "features.*=5,classifier=4" --prune-steps 3 \
  --finetune-images 30000
squeeze vgg-19-squeezed mnist vgg19_squeezed_mnist vgg19_squeezed_mnist_paper \
  "features.*=0.35,features.0.*=0.58,classifier=0.25" "features.*=8,classifier=5" --finetune-images 30000
base vgg-19-squeezed fashion-mnist 12 vgg19_squeezed_fashion_mnist
base vgg-19 mnist 6 vgg19_mnist
base vgg-19 fashion-mnist 12 vgg19_fashion_mnist
