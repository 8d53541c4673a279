#!/usr/bin/env bash
# Issue 11 as two lanes of steps, one core each; rerun a lane to resume (finished steps
# are skipped, a half-done baseline continues from its checkpoint).
#   experiments/vgg_queue.sh vgg19      # VGG-19: MNIST, then Fashion-MNIST
#   experiments/vgg_queue.sh squeezed   # Fire-module VGG-19: MNIST, then Fashion-MNIST
set -euo pipefail
cd "$(dirname "$0")/.."
data=${PYCODEC_DATA:-../shared/data}
base() {  # MODEL DATASET EPOCHS RUN [extra args]
  local model=$1 dataset=$2 epochs=$3 run=$4; shift 4
  [ -f "runs/vgg/$run/baseline.pt" ] || python3 experiments/vgg_baseline.py --model "$model" --dataset "$dataset" \
    --epochs "$epochs" --data-dir "$data/$dataset" --run-dir "runs/vgg/$run" "$@"
}
squeeze() {  # MODEL DATASET RUN OUT DENSITY BITS [extra args]
  local model=$1 dataset=$2 run=$3 out=$4 density=$5 bits=$6; shift 6
  [ -f "results/$out.json" ] || python3 experiments/vgg_compress.py --model "$model" --dataset "$dataset" \
    --data-dir "$data/$dataset" --run-dir "runs/vgg/$run" --density "$density" --bits "$bits" \
    --out "results/$out.dcz" "$@"
}
# Densities and bits are compress_model mappings: an exact name wins, then the LAST
# matching glob. The VGG-19 and squeezed "pushed" rows below are uniform (every conv
# layer alike): they were first written most-specific-first, so the general glob
# overrode the rest; these are the mappings that actually ran (compress_model now refuses
# a pattern that decides no layer). The paper rows keep the paper's 8-bit conv, 5-bit fc.
# Tried and dropped: VGG-19 at a uniform 2% with 5 bits in 3 steps of 30k images (1.18%
# error after the second step), VGG-19 at a uniform 4% with 4 bits in 4 steps of 40k
# images (73.6x at 1.50%), squeezed at a uniform 20% (0.94%).
# VGG-19 pushed: layer-wise, the 2.4M-weight 512-channel layers at 3% (3.5% on
# Fashion-MNIST), the early layers denser; 5-bit conv (8-bit first conv), 5-bit fc.
VGG19_EARLY="features.0.*=0.8,features.1.*=0.5,features.3.*=0.4,features.4.*=0.3"
VGG19_MID="features.6.*=0.15,features.7.*=0.12,features.8.*=0.12,features.9.*=0.12,features.11.*=0.07"
VGG19_PUSHED="features.*=0.03,$VGG19_EARLY,$VGG19_MID,classifier=0.5"
VGG19_FASHION="features.*=0.035,$VGG19_EARLY,$VGG19_MID,classifier=0.5"
VGG19_PUSHED_BITS="features.*=5,features.0.*=8,classifier=5"
VGG19_PAPER="features.*=0.3,classifier=0.25"
SQUEEZED_PUSHED="features.*=0.3,classifier=0.3"
SQUEEZED_PAPER="features.*=0.35,features.0.*=0.58,classifier=0.25"
case ${1:?lane: vgg19 or squeezed} in
vgg19)
  base vgg-19 mnist 4 vgg19_mnist --polish-epochs 1
  squeeze vgg-19 mnist vgg19_mnist vgg19_mnist "$VGG19_PUSHED" "$VGG19_PUSHED_BITS" \
    --prune-steps 3 --finetune-images 60000
  squeeze vgg-19 mnist vgg19_mnist vgg19_mnist_paper "$VGG19_PAPER" "features.*=8,classifier=5" \
    --prune-steps 1 --finetune-images 30000
  base vgg-19 fashion-mnist 10 vgg19_fashion_mnist
  squeeze vgg-19 fashion-mnist vgg19_fashion_mnist vgg19_fashion_mnist "$VGG19_FASHION" "$VGG19_PUSHED_BITS" \
    --prune-steps 2 --finetune-images 60000
  ;;
squeezed)
  base vgg-19-squeezed mnist 6 vgg19_squeezed_mnist
  squeeze vgg-19-squeezed mnist vgg19_squeezed_mnist vgg19_squeezed_mnist "$SQUEEZED_PUSHED" \
    "features.*=6,classifier=5" --prune-steps 2 --finetune-images 60000
  squeeze vgg-19-squeezed mnist vgg19_squeezed_mnist vgg19_squeezed_mnist_paper "$SQUEEZED_PAPER" \
    "features.*=8,classifier=5" --finetune-images 30000
  base vgg-19-squeezed fashion-mnist 8 vgg19_squeezed_fashion_mnist
  squeeze vgg-19-squeezed fashion-mnist vgg19_squeezed_fashion_mnist vgg19_squeezed_fashion_mnist \
    "$SQUEEZED_PUSHED" "features.*=6,classifier=5" --prune-steps 2 --finetune-images 60000
  squeeze vgg-19-squeezed fashion-mnist vgg19_squeezed_fashion_mnist vgg19_squeezed_fashion_mnist_paper \
    "$SQUEEZED_PAPER" "features.*=8,classifier=5" --finetune-images 60000
  ;;
*) echo "unknown lane $1 (vgg19 or squeezed)" >&2; exit 2 ;;
esac
