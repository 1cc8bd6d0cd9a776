#!/bin/sh
# Run every Molecule scenario (create, converge, idempotence, verify,
# destroy), MOLECULE_JOBS at a time (default 2), longest first. Each
# scenario's output goes to .molecule-logs/<scenario>.log; a failing one's
# log is printed in full. Scenarios use their own container names, ports and
# networks, so they can run side by side. Exits non-zero if any failed.
#
# MOLECULE_CORES names the ansible-core each scenario runs with (default:
# default on 2.16, the oldest supported; edge on 2.21, the newest; multinode
# on 2.18, which ran a no-op site.yml in 28 s where 2.19 to 2.21 took 37).
# That version's venv (tools/version_matrix.py, cached) comes first on PATH
# for create, converge, idempotence and the playbooks the tests run; pytest
# and testinfra themselves run from the dev venv. A scenario not named runs
# with the dev venv's ansible-core.
set -u
sh "$(dirname "$0")/ssh_key.sh"
# The compiler cache the test containers share (build_image.sh).
mkdir -p .cache/ccache
jobs=${MOLECULE_JOBS:-2}
cores=${MOLECULE_CORES-default=2.16 edge=2.21 multinode=2.18}
logs=${MOLECULE_LOGS:-.molecule-logs}
mkdir -p "$logs"
# The two lanes should finish close together: default (with the release
# sequence, the longest) and multinode first, then edge, which also finds
# uWSGI's objects in the compiler cache by then. Any scenario not listed here
# runs after these.
known="default multinode edge"
all=$(for f in molecule/*/molecule.yml; do basename "$(dirname "$f")"; done)
order=""
for s in $known; do
    case " $(echo $all) " in *" $s "*) order="$order $s" ;; esac
done
for s in $all; do
    case " $order " in *" $s "*) ;; *) order="$order $s" ;; esac
done

run_one() {
    scenario=$1
    log="$logs/$scenario.log"
    core=""
    for pair in $cores; do
        [ "${pair%%=*}" = "$scenario" ] && core=${pair#*=}
    done
    path=$PATH
    with=""
    if [ -n "$core" ]; then
        venv=$(python3 tools/version_matrix.py --venv "$core") || return 1
        path="$venv/bin:$PATH"
        with=", converged with $("$venv/bin/ansible-playbook" --version | sed -n 1p)"
    fi
    start=$(date +%s)
    echo "[$(date +%T)] $scenario: started$with"
    if PATH="$path" molecule test -s "$scenario" >"$log" 2>&1; then
        echo "[$(date +%T)] $scenario: passed in $(($(date +%s) - start)) s"
        grep -a "passed in\|passed, " "$log" | tail -n 1
    else
        echo "[$(date +%T)] $scenario: FAILED after $(($(date +%s) - start)) s; its log:"
        cat "$log"
        echo "[$(date +%T)] $scenario: FAILED (log above, and in $log)"
        return 1
    fi
}

status=0
# POSIX sh has no job pools: xargs -P runs the lanes; each lane re-enters this
# script with "one <scenario>".
if [ "${1:-}" = one ]; then
    run_one "$2"
    exit $?
fi
printf '%s\n' $order | xargs -P "$jobs" -I{} sh "$0" one {} || status=1
[ "$status" -eq 0 ] && echo "all Molecule scenarios passed" || echo "some Molecule scenarios FAILED"
exit "$status"
