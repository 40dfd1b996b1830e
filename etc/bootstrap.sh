#!/bin/sh
# etc/bootstrap.sh — install what smsgw needs from Debian 12's packages and
# build it into build/ (build/smsgw). Safe to run again: it installs only
# missing packages and rebuilds only what changed. Needs root or sudo for
# apt-get; downloads nothing but Debian packages. (tests/run.sh adds the npm
# packages of the JS SDK check, tests/sdk/package-lock.json.)
set -eu
cd "$(dirname "$0")/.."

PACKAGES="build-essential cmake pkg-config python3 python3-websocket prometheus curl wrk \
  libnng-dev libmsgpack-dev librocksdb-dev libcivetweb-dev libcurl4-openssl-dev \
  libconfig-dev libjansson-dev libssl-dev libyajl-dev \
  clang libclang-rt-14-dev \
  chromium" # chromium: headless, for tests/e2e/test_gw_ws_browser.py
# Node.js runs the official RingCentral JS SDK against bench/fakecarrier
# (tests/sdk): Debian's nodejs and npm when there is no node at all, npm
# alone when a node came without it.
if ! command -v node >/dev/null 2>&1; then
    PACKAGES="$PACKAGES nodejs npm"
elif ! command -v npm >/dev/null 2>&1; then
    PACKAGES="$PACKAGES npm"
fi

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "bootstrap: installing$missing"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
    # the tests use only prometheus's promtool: a server this script
    # installed is not left running or enabled
    case " $missing " in *" prometheus "*)
        if command -v systemctl >/dev/null 2>&1; then
            $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
        fi ;;
    esac
fi

BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
echo "bootstrap: built $BUILD_DIR/smsgw"

