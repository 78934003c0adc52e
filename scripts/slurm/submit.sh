#!/usr/bin/env bash
# Submits a sweep to Slurm: a job array of N shards (sweep.sbatch), then the merge job (merge.sbatch)
# that starts once every shard has succeeded and writes the CSVs, manifests and figures.
#
# Usage, from the repository checkout on the cluster's shared filesystem:
#   cargo build --release -p experiments
#   [SWEEP_QUICK=1] scripts/slurm/submit.sh N SPEC...        # e.g. 8 experiments/*.toml
#   squeue --me; then read results/<spec>/runs.csv, figures/<spec>.png
# It prints "<array job id> <merge job id>" on stdout (progress on stderr).
#
# Conventions:
#   - The jobs run in the current directory (--chdir), which must be the checkout, on a filesystem
#     every node sees: the cache in the results directory is how the shards hand their batches to
#     the merge. Spec paths and the SWEEP_* paths are relative to it.
#   - Environment (exported to the jobs):
#       SWEEP_QUICK=1        --quick: the specs' [quick] sizes, under results/quick and figures/quick
#       SWEEP_RESULTS=DIR    results root (default results; cache in DIR/cache or DIR/quick/cache)
#       SWEEP_FIGURES=DIR    figures directory (default figures)
#       SWEEP_BIN=PATH       the binary (default target/release/experiments)
#       SWEEP_CPUS=C         --cpus-per-task of each shard and of the merge (default 1)
#       SWEEP_MAX_PARALLEL=K at most K shards running at once (--array=0-(N-1)%K)
#       SWEEP_MAX_HOURS=H    --max-hours H for every shard and the merge: a task refuses to start
#                            work estimated above H hours on its node (default 24; with
#                            SWEEP_CLAIMS=1 only the merge's: claiming tasks have no estimate of their own)
#       SWEEP_LOGS=DIR       job logs (default $SWEEP_RESULTS/slurm-logs): sweep-<array>_<task>.out,
#                            merge-<job>.out, plan-<array>.txt (the batches of each shard)
#       SWEEP_CLAIMS=1       the N tasks share the batches dynamically instead of a fixed shard
#                            each: every task takes the next batch no task has taken, longest first
#                            (`run --claims DIR`), so fast nodes do more and a wrong cost estimate
#                            leaves no task idle; the bits are the same. DIR is a fresh
#                            $SWEEP_RESULTS/slurm-claims/<random> (exclusive file creation there must
#                            be atomic: local, NFSv3+, Lustre, GPFS), removed by the merge job. If
#                            a task fails, the merge is cancelled and the directory stays (nothing
#                            reads it again: resubmitting makes a fresh one and finds the finished
#                            batches in the cache); remove it by hand. A task that Slurm requeues
#                            (node failure) takes back the batches its first attempt claimed and
#                            did not finish (`--claim-as <array job>_<task>`), resuming them from
#                            their checkpoints. `experiments plan --claims DIR SPEC...` shows who
#                            holds each batch and whether it finished.
#     Partition, account, time limit, memory: sbatch's own variables, e.g. SBATCH_PARTITION,
#     SBATCH_ACCOUNT, SBATCH_TIMELIMIT, SBATCH_MEM_PER_CPU (they apply to both jobs).
#   - Before submitting, `experiments plan --shards N` runs here: it checks the specs and shows the
#     estimated work of each shard.
#   - The merge job is submitted with --dependency=afterok:<array> and --kill-on-invalid-dep=yes, so
#     if a shard fails the merge is cancelled rather than left pending; resubmitting the same command
#     reuses every batch already in the cache.
set -euo pipefail

usage() { echo "usage: [SWEEP_QUICK=1] $0 N SPEC...   (N = number of shards = array tasks)" >&2; exit 2; }
[ $# -ge 2 ] || usage
shards=$1
shift
# Decimal, even with leading zeros (bash would read 010 as octal 8 in $((…)), the jobs as 10).
case "$shards" in
  '' | *[!0-9]*) echo "submit.sh: N = '$shards'; allowed: a whole number ≥ 1" >&2; usage ;;
esac
shards=$((10#$shards))
[ "$shards" -ge 1 ] || { echo "submit.sh: N = 0; allowed: a whole number ≥ 1" >&2; usage; }
# A positive decimal number of hours (checked here, not by every task in the queue).
if [ -n "${SWEEP_MAX_HOURS:-}" ]; then
  if ! [[ $SWEEP_MAX_HOURS =~ ^([0-9]+(\.[0-9]*)?|\.[0-9]+)$ ]] ||
    ! [[ $SWEEP_MAX_HOURS =~ [1-9] ]]; then
    echo "submit.sh: SWEEP_MAX_HOURS = '$SWEEP_MAX_HOURS'; allowed: a positive number of hours, e.g. 36 or 0.5" >&2
    exit 2
  fi
fi
here=$(cd "$(dirname "$0")" && pwd)

export SWEEP_QUICK=${SWEEP_QUICK:-}
export SWEEP_RESULTS=${SWEEP_RESULTS:-results}
export SWEEP_FIGURES=${SWEEP_FIGURES:-figures}
export SWEEP_BIN=${SWEEP_BIN:-target/release/experiments}
export SWEEP_SHARDS=$shards
cpus=${SWEEP_CPUS:-1}
logs=${SWEEP_LOGS:-$SWEEP_RESULTS/slurm-logs}
quick=""
case "$SWEEP_QUICK" in "" | 0) ;; *) quick=--quick ;; esac

command -v sbatch >/dev/null || { echo "submit.sh: sbatch not found (no Slurm client here)" >&2; exit 1; }
[ -x "$SWEEP_BIN" ] || {
  echo "submit.sh: $SWEEP_BIN not found in $(pwd); build it (cargo build --release -p experiments) or set SWEEP_BIN" >&2
  exit 1
}
for spec in "$@"; do
  [ -f "$spec" ] || { echo "submit.sh: no spec file $spec (paths are relative to $(pwd))" >&2; exit 1; }
done
mkdir -p "$logs"

# The plan: checks every spec now (not in the queue) and shows how the work splits.
plan=$(mktemp "$logs/plan.XXXXXX")
"$SWEEP_BIN" --results "$SWEEP_RESULTS" --figures "$SWEEP_FIGURES" plan $quick --shards "$shards" "$@" >"$plan" || {
  rm -f "$plan"
  exit 1
}
case "${SWEEP_CLAIMS:-}" in
  "" | 0)
    unset SWEEP_CLAIMS_DIR
    tail -n "$shards" "$plan" >&2
    ;;
  *)
    mkdir -p "$SWEEP_RESULTS/slurm-claims"
    SWEEP_CLAIMS_DIR=$(mktemp -d "$SWEEP_RESULTS/slurm-claims/XXXXXX")
    export SWEEP_CLAIMS_DIR
    echo "submit.sh: the $shards tasks claim batches dynamically in $SWEEP_CLAIMS_DIR" \
      "(the fixed split below is what --shard would give)" >&2
    tail -n "$shards" "$plan" >&2
    ;;
esac

array=$(sbatch --parsable --export=ALL --chdir="$(pwd)" \
  --array="0-$((shards - 1))${SWEEP_MAX_PARALLEL:+%$SWEEP_MAX_PARALLEL}" \
  --cpus-per-task="$cpus" --output="$logs/sweep-%A_%a.out" \
  "$here/sweep.sbatch" "$@") || {
  echo "submit.sh: the array job was not submitted (sbatch's message above)" >&2
  rm -f "$plan"
  [ -n "${SWEEP_CLAIMS_DIR:-}" ] && rmdir "$SWEEP_CLAIMS_DIR"
  exit 1
}
array=${array%%;*}
mv "$plan" "$logs/plan-$array.txt"
merge=$(sbatch --parsable --export=ALL --chdir="$(pwd)" \
  --dependency="afterok:$array" --kill-on-invalid-dep=yes \
  --cpus-per-task="$cpus" --output="$logs/merge-%j.out" \
  "$here/merge.sbatch" "$@") || {
  echo "submit.sh: the merge job was not submitted; the array job $array runs anyway (scancel $array, or" \
    "submit the merge by hand: ${SWEEP_CLAIMS_DIR:+SWEEP_CLAIMS_DIR=$SWEEP_CLAIMS_DIR }sbatch" \
    "--dependency=afterok:$array $here/merge.sbatch SPEC...)" >&2
  exit 1
}
merge=${merge%%;*}

what=shards
[ -n "${SWEEP_CLAIMS_DIR:-}" ] && what="claiming tasks"
echo "submit.sh: array job $array ($shards $what of $# spec(s)${quick:+, quick}), merge job $merge;" \
  "logs in $logs/; results in $SWEEP_RESULTS${quick:+/quick}/<spec>/ once job $merge has completed" >&2
echo "$array $merge"
