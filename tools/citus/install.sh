#!/usr/bin/env bash
# Builds Citus 13.2.2 from source and installs it into Debian's PostgreSQL 15, for the
# project's Citus cluster on one machine (tests, `make test-citus`, `CITUS=1 make run`;
# docs/scaling.md, "Getting Citus"). A deployment uses Citus' packages or the
# citusdata/citus image instead. Does nothing when citus.so is installed already.
#
#   tools/citus/install.sh        (as root: it apt-installs the build dependencies)
#
# The source tarball (citus-13.2.2.tar.gz, tag v13.2.2 of citusdata/citus) is taken from
# $CITUS_SOURCE (the tarball or a folder holding it), else from a `shared/citus/` folder
# beside the checkout or one of its parents (or, for a clone, beside the repository it was
# cloned from or one of its parents), else downloaded from GitHub. The patch beside
# this script renames Citus' own have_createdb_privilege(), which PostgreSQL 15.20's
# headers now declare too.
set -euo pipefail
VERSION=13.2.2
SHA256=dd2453caec20a830e5e63f1def5c5a98cb6f57ae510407cdcd800916fcdab430
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}"

libdir="$("$PG_CONFIG" --pkglibdir 2>/dev/null || true)"
if [ -n "$libdir" ] && [ -f "$libdir/citus.so" ]; then
  echo "citus already installed in $libdir"; exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "tools/citus/install.sh: run as root (it installs PostgreSQL 15's build dependencies)" >&2; exit 1
fi

tarball=""
if [ -n "${CITUS_SOURCE:-}" ]; then
  if [ -d "$CITUS_SOURCE" ]; then tarball="$CITUS_SOURCE/citus-$VERSION.tar.gz"; else tarball="$CITUS_SOURCE"; fi
  [ -f "$tarball" ] || { echo "CITUS_SOURCE=$CITUS_SOURCE: no citus-$VERSION.tar.gz there" >&2; exit 1; }
else
  # Beside the checkout or one of its parents; for a clone (CI clones the repository into
  # a folder of its own), beside the repository it was cloned from or one of its parents.
  starts=("$root")
  origin="$(git -C "$root" remote get-url origin 2>/dev/null || true)"
  if [ -n "$origin" ] && [ -d "$origin" ]; then starts+=("$(cd "$origin" && pwd)"); fi
  for start in "${starts[@]}"; do
    dir="$start"
    while [ -z "$tarball" ] && [ "$dir" != "/" ]; do
      dir="$(dirname "$dir")"
      if [ -f "$dir/shared/citus/citus-$VERSION.tar.gz" ]; then tarball="$dir/shared/citus/citus-$VERSION.tar.gz"; fi
    done
  done
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [ -z "$tarball" ]; then
  tarball="$work/citus-$VERSION.tar.gz"
  echo "downloading Citus $VERSION from GitHub"
  curl -fsSL -o "$tarball" "https://github.com/citusdata/citus/archive/refs/tags/v$VERSION.tar.gz"
else
  echo "$SHA256  $tarball" | sha256sum -c --quiet - \
    || { echo "$tarball is not the Citus $VERSION source this script knows" >&2; exit 1; }
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql-15 postgresql-server-dev-15 build-essential liblz4-dev libzstd-dev \
  libkrb5-dev libselinux1-dev libxslt1-dev libpam0g-dev autoconf flex bison >/dev/null
tar xzf "$tarball" -C "$work"
cd "$work/citus-$VERSION"
if ! grep -q citus_have_createdb_privilege src/include/pg_version_compat.h; then
  patch -p1 < "$here/pg15-have_createdb_privilege.patch"
fi
./configure PG_CONFIG="$PG_CONFIG" --without-libcurl >/dev/null
make -j"$(nproc)" >/dev/null
make install >/dev/null
echo "citus installed in $("$PG_CONFIG" --pkglibdir)"
