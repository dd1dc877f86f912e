#!/bin/sh
# Installs everything tconv needs to build and test on a fresh Debian 12 machine (as root, or
# with sudo available).  Skips apt entirely when every package is already there.
set -e
PKGS="build-essential pkg-config clang libclang-rt-14-dev python3-numpy libpng-dev libjpeg-dev
zlib1g-dev libcjson-dev libsnappy-dev libzip-dev libhdf5-dev cmake man-db"
missing=""
for p in $PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "setup: installing$missing"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
