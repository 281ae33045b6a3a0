#!/usr/bin/env bash
# What the Node.js runtime's tests and functions use beyond node itself, each installed only
# when missing (a second run returns at once):
#  1. aws-lambda-ric, the official Lambda Node.js runtime interface client, into
#     tests/fixtures/node-ric/node_modules (npm ci from its lockfile). Its install compiles the
#     curl and aws-lambda-cpp it bundles plus a node addon: one to two minutes, and the build
#     tools below.
#  2. The AWS SDK for JavaScript v3 clients listed in runtimes/nodejs/sdk/package.json, into
#     $FAAS_NODE_RUNTIME_DIR/node_modules (default: .node-runtime/ in this checkout): the
#     directory a worker mounts read-only as /var/runtime, where Lambda's Node.js runtimes
#     keep the SDK they include (/var/runtime/node_modules is on NODE_PATH).
# As root on Debian, missing packages (node, npm, the build tools) come from apt-get; elsewhere
# the script names what is missing and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

RIC_DIR=tests/fixtures/node-ric
SDK_MANIFEST_DIR=runtimes/nodejs/sdk
SDK_DIR=${FAAS_NODE_RUNTIME_DIR:-.node-runtime}
# cmake, make and g++ build curl and aws-lambda-cpp; node-gyp runs on python3; the bundled
# sources are .tar.xz. (curl ships a generated configure script: no autotools needed.)
BUILD_TOOLS=(cmake:cmake make:make g++:g++ python3:python3 xz:xz-utils)

missing_packages() {
    local tool package
    for entry in "$@"; do
        tool=${entry%%:*} package=${entry#*:}
        command -v "$tool" >/dev/null || echo "$package"
    done
}

apt_install() {
    [ "$#" -gt 0 ] || return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "install-node-extras: missing: $* (install them, then run this again)" >&2
        exit 1
    fi
    echo "install-node-extras: apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
}

# The lockfile's hash, kept beside an installed node_modules: a changed lockfile reinstalls.
lock_stamp() { sha256sum "$1/package-lock.json" | cut -d' ' -f1; }
installed() { [ -f "$2/node_modules/.faas-lock" ] && [ "$(cat "$2/node_modules/.faas-lock")" = "$(lock_stamp "$1")" ]; }

npm_ci_into() {  # manifest directory, target directory
    local manifests=$1 target=$2
    mkdir -p "$target"
    if [ "$manifests" != "$target" ]; then
        cp "$manifests/package.json" "$manifests/package-lock.json" "$target/"
    fi
    (cd "$target" && npm ci --no-audit --no-fund)
    lock_stamp "$manifests" >"$target/node_modules/.faas-lock"
}

if installed "$RIC_DIR" "$RIC_DIR" && installed "$SDK_MANIFEST_DIR" "$SDK_DIR"; then
    exit 0
fi

# Debian's own nodejs keeps node's headers in libnode-dev (node-gyp compiles against them).
command -v node >/dev/null || apt_install nodejs npm libnode-dev
command -v npm >/dev/null || apt_install npm

# node-gyp builds the client's addon against the headers of the node that runs it; pointing it
# at them avoids downloading a copy from nodejs.org.
node_prefix=$(dirname "$(dirname "$(command -v node)")")
if [ -f "$node_prefix/include/node/node.h" ]; then
    export npm_config_nodedir=$node_prefix
fi

if ! installed "$RIC_DIR" "$RIC_DIR"; then
    # shellcheck disable=SC2046  # one package name per word
    apt_install $(missing_packages "${BUILD_TOOLS[@]}")
    echo "install-node-extras: aws-lambda-ric into $RIC_DIR (compiles curl and aws-lambda-cpp: 1-2 min)"
    npm_ci_into "$RIC_DIR" "$RIC_DIR"
    # Its install scripts build the native Runtime API client; an npm that skipped them
    # leaves a client that cannot start.
    if [ ! -f "$RIC_DIR/node_modules/aws-lambda-ric/rapid-client.node" ]; then
        rm "$RIC_DIR/node_modules/.faas-lock"
        echo "install-node-extras: aws-lambda-ric's native client was not built (were its install scripts run?)" >&2
        exit 1
    fi
fi

if ! installed "$SDK_MANIFEST_DIR" "$SDK_DIR"; then
    echo "install-node-extras: AWS SDK for JavaScript v3 into $SDK_DIR/node_modules"
    npm_ci_into "$SDK_MANIFEST_DIR" "$SDK_DIR"
fi
