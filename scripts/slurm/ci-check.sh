#!/usr/bin/env bash
# CI proof of the Slurm scripts: on a one-node local cluster (local-cluster.sh), the quick-mode sweep
# of every spec as a job array of 3 shards plus the merge job (submit.sh) gives byte-identical CSVs
# to a single `experiments run --quick` process; and so does the same sweep whose 3 tasks claim
# the batches dynamically (SWEEP_CLAIMS=1), whose merge job must remove the claims directory.
#
# Usage: scripts/slurm/ci-check.sh      (Debian, root or sudo; about 45 s on 2 cores, plus the
#        first install of slurm-wlm and munge, 5-10 s from a Debian mirror)
#
# Conventions:
#   - Uses ${SWEEP_BIN:-target/release/experiments} (built with cargo build --release -p experiments
#     if absent), copied into the scratch directory first so a rebuild during the check cannot mix
#     two binaries; likewise experiments/*.toml. Everything it writes goes to a scratch directory ($CI_SCRATCH, default a new
#     /tmp/slurm-ci.XXXXXX, removed on success, kept on failure): the repository's results/ and
#     figures/ are not touched.
#   - Starts the local cluster (installing slurm-wlm and munge if needed) and stops it at the end;
#     a local cluster that is already running (same LOCAL_SLURM_DIR) is used and left running.
#   - Fails, printing the job logs, if a job fails, if the jobs take more than $CI_TIMEOUT seconds
#     (default 480), if the merge job had to compute a batch itself (the shards must have computed
#     all), if a figure is missing or empty, if a claims directory is left after the claiming
#     sweep, or if any runs.csv / trajectories.csv differs.
#   - Ends with one summary line "slurm-check: ..." and the wall time of each phase.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=scripts/slurm
shards=3
timeout=${CI_TIMEOUT:-480}
export LOCAL_SLURM_DIR=${LOCAL_SLURM_DIR:-/tmp/slurm-local}
export SLURM_CONF=$LOCAL_SLURM_DIR/slurm.conf
export PATH=$PATH:/usr/sbin:/sbin
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", b - a}'; }
say() { echo "ci-check: $*" >&2; }
t_start=$(now)

scratch=${CI_SCRATCH:-$(mktemp -d /tmp/slurm-ci.XXXXXX)}
mkdir -p "$scratch"
started_cluster=""
ok=""
cleanup() {
  if [ -n "$started_cluster" ]; then
    "$here/local-cluster.sh" stop || true
  fi
  if [ -n "$ok" ] && [ -z "${CI_SCRATCH:-}" ]; then
    rm -rf "$scratch"
  else
    say "scratch directory kept: $scratch"
  fi
}
trap cleanup EXIT

# The binary.
bin=${SWEEP_BIN:-${CARGO_TARGET_DIR:-target}/release/experiments}
if [ ! -x "$bin" ]; then
  say "building $bin"
  cargo build --release -p experiments
fi
cp "$bin" "$scratch/experiments"
bin=$scratch/experiments
# The specs too, so that an edit of experiments/*.toml during the check cannot give the shards, the
# merge and the single process different specs (results are named after the file, not its path).
mkdir -p "$scratch/specs"
cp experiments/*.toml "$scratch/specs/"
specs=("$scratch"/specs/*.toml)

# Phase 1: the cluster.
t0=$(now)
if "$here/local-cluster.sh" running && sinfo -h >/dev/null 2>&1; then
  say "using the local cluster already running ($SLURM_CONF)"
else
  started_cluster=1 # also stops what a failed start left running
  "$here/local-cluster.sh" start
fi
t_cluster=$(secs "$t0" "$(now)")

# Phase 2: the sweep on Slurm, 3 shards and the merge, twice: with a fixed shard per task, then
# with the tasks claiming batches (SWEEP_CLAIMS=1).
job_states() { scontrol show job -o "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
show_logs() { # array merge logs
  say "job states:"
  for j in "$1" "$2"; do
    scontrol show job -o "$j" 2>/dev/null | awk '{
      line = "  "
      for (i = 1; i <= NF; i++)
        if ($i ~ /^(JobId|ArrayTaskId|JobState|Reason|ExitCode)=/) line = line " " $i
      print line
    }' >&2 || true
  done
  for f in "$3"/*.out; do
    [ -e "$f" ] || continue
    echo "----- $f" >&2
    cat "$f" >&2
  done
  echo "----- slurmctld.log, slurmd.log (last lines)" >&2
  $SUDO tail -n 15 "$LOCAL_SLURM_DIR/slurmctld.log" "$LOCAL_SLURM_DIR/slurmd.log" >&2 || true
}

# sweep NAME CLAIMS: submits the sweep into $scratch/NAME (SWEEP_CLAIMS=CLAIMS), waits for it and
# checks that every task completed, that the merge computed nothing and drew every figure, and that
# no claims directory is left.
sweep() {
  local name=$1 claims=$2 dir=$scratch/$1 logs=$scratch/$1/logs ids array merge state bad
  ids=$(SWEEP_QUICK=1 SWEEP_RESULTS="$dir/results" SWEEP_FIGURES="$dir/figures" SWEEP_CLAIMS="$claims" \
    SWEEP_BIN="$bin" SWEEP_CPUS=1 SWEEP_LOGS="$logs" "$here/submit.sh" "$shards" "${specs[@]}")
  read -r array merge <<<"$ids"
  [ -n "${merge:-}" ] || { say "submit.sh printed no job ids: '$ids'"; exit 1; }
  local deadline=$(($(date +%s) + timeout))
  while :; do
    state=$(job_states "$merge")
    case "$state" in
      COMPLETED) break ;;
      PENDING | CONFIGURING | RUNNING | COMPLETING | REQUEUED | RESIZING | SUSPENDED) ;;
      *)
        say "$name: the merge job $merge ended as '${state:-unknown}' (a shard failed, or the merge did)"
        show_logs "$array" "$merge" "$logs"
        exit 1
        ;;
    esac
    if [ "$(date +%s)" -ge "$deadline" ]; then
      say "$name: timeout: the jobs did not finish in $timeout s; cancelling them"
      scancel "$array" "$merge" || true
      show_logs "$array" "$merge" "$logs"
      exit 1
    fi
    sleep 2
  done
  bad=$(job_states "$array" | grep -vc '^COMPLETED$' || true)
  if [ "$bad" -ne 0 ]; then
    say "$name: $bad array task(s) of job $array did not complete"
    show_logs "$array" "$merge" "$logs"
    exit 1
  fi
  # The merge must have found every run in the cache: "<spec>: R runs (C cached, 0 computed, ...".
  local merge_log=$logs/merge-$merge.out computed merged
  computed=$(grep -c '^[a-z_0-9]*: [0-9]* runs\? ([0-9]* cached, [1-9][0-9]* computed' "$merge_log" || true)
  merged=$(grep -c '^[a-z_0-9]*: [0-9]* runs\? ([0-9]* cached, [0-9]* computed' "$merge_log" || true)
  if [ "$merged" -ne "${#specs[@]}" ] || [ "$computed" -ne 0 ]; then
    say "$name: the merge log has $merged spec summaries for ${#specs[@]} specs, $computed of them computed runs the shards should have:"
    show_logs "$array" "$merge" "$logs"
    exit 1
  fi
  for spec in "${specs[@]}"; do
    local spec_name
    spec_name=$(basename "$spec" .toml)
    for ext in png svg; do
      [ -s "$dir/figures/quick/$spec_name.$ext" ] || {
        say "$name: missing or empty: $dir/figures/quick/$spec_name.$ext"
        show_logs "$array" "$merge" "$logs"
        exit 1
      }
    done
  done
  if [ -n "$(ls -A "$dir/results/slurm-claims" 2>/dev/null)" ]; then
    say "$name: the merge job left a claims directory: $(ls "$dir/results/slurm-claims")"
    exit 1
  fi
  say "$name tasks:"
  grep -h -e '^shard [0-9]*/[0-9]*:' -e '^[0-9]* of [0-9]* batches claimed' "$logs"/sweep-"$array"_*.out |
    sed -e 's/ on [^ ]*$//' -e "s|$scratch/||" -e 's/^/  /' >&2 || true
  jobs_of[$name]="$array, $merge"
}

declare -A jobs_of
t0=$(now)
sweep slurm ""
t_slurm=$(secs "$t0" "$(now)")
t0=$(now)
sweep claims 1
t_claims=$(secs "$t0" "$(now)")

# Phase 3: the same sweep in one process, all cores.
t0=$(now)
single=$scratch/single
"$bin" --results "$single/results" --figures "$single/figures" run --quick "${specs[@]}" >/dev/null 2>"$scratch/single.log" || {
  cat "$scratch/single.log" >&2
  exit 1
}
t_single=$(secs "$t0" "$(now)")

# Phase 4: every CSV of both sweeps, byte for byte.
t0=$(now)
same=0
differ=0
missing=0
for name in slurm claims; do
  for spec in "${specs[@]}"; do
    spec_name=$(basename "$spec" .toml)
    for csv in runs.csv trajectories.csv; do
      a=$single/results/quick/$spec_name/$csv
      b=$scratch/$name/results/quick/$spec_name/$csv
      if [ ! -f "$a" ] && [ ! -f "$b" ] && [ "$csv" != runs.csv ]; then
        continue
      elif [ ! -f "$a" ] || [ ! -f "$b" ]; then
        say "only one of $a, $b exists"
        missing=$((missing + 1))
      elif cmp -s "$a" "$b"; then
        same=$((same + 1))
      else
        say "DIFFERENT: $name: $spec_name/$csv: $(cmp "$a" "$b" 2>&1 | head -n 1)"
        differ=$((differ + 1))
      fi
    done
  done
done
t_compare=$(secs "$t0" "$(now)")

say "phases: cluster start ${t_cluster} s, Slurm sweep (3 shards + merge) ${t_slurm} s," \
  "the same with claiming tasks ${t_claims} s, single process ${t_single} s, compare ${t_compare} s;" \
  "total $(secs "$t_start" "$(now)") s"
echo "slurm-check: ${#specs[@]} specs, $shards fixed shards + merge (jobs ${jobs_of[slurm]}) and $shards claiming" \
  "tasks + merge (jobs ${jobs_of[claims]}) on the local cluster: $same CSVs byte-identical to one process," \
  "$differ differ, $missing missing"
if [ "$differ" -ne 0 ] || [ "$missing" -ne 0 ] || [ "$same" -eq 0 ]; then
  exit 1
fi
ok=1
