#!/bin/sh
# The container's command, run by tini (PID 1, which reaps the processes functions leave
# behind and passes SIGTERM on to faas alone): gives faas a cgroup of its own, then execs
# `faas serve` with the arguments given.
#
# On a cgroup v2 host the container's cgroup holds tini too, and v2 hands controllers only to
# the children of a cgroup without processes of its own. So, where /sys/fs/cgroup is writable
# (--privileged, or a writable cgroup namespace), every process already there moves to the
# leaf "init", the root of the container's cgroup hands memory, pids and cpu on, and faas
# starts in the cgroup "faas", where it builds its workers' cgroups
# (faas/pool/cgroups_v2.py). Elsewhere (cgroup v1, a read-only cgroupfs) nothing is moved
# and `faas doctor` says what that costs.
set -eu

cgroup=/sys/fs/cgroup
if [ -f "$cgroup/cgroup.controllers" ] && [ -w "$cgroup/cgroup.procs" ] \
    && mkdir -p "$cgroup/init" "$cgroup/faas" 2>/dev/null; then
    # Every process of the container, this shell included, out of the root.
    while read -r pid; do
        echo "$pid" >"$cgroup/init/cgroup.procs" 2>/dev/null || true
    done <"$cgroup/cgroup.procs"
    for controller in memory pids cpu; do
        echo "+$controller" >"$cgroup/cgroup.subtree_control" 2>/dev/null \
            || echo "faas-entrypoint: cannot hand the $controller controller on" >&2
    done
    echo "$$" >"$cgroup/faas/cgroup.procs"
fi
exec faas serve "$@"
