#!/usr/bin/env bash
# Build the offline base image for Purelink's runtime images: Debian bookworm (minbase) with python3
# (3.11) and python3-venv, made with debootstrap from the Debian mirror apt already uses, then
# `docker import`ed. No registry is needed, which is the point: air-gapped engines cannot pull
# python:3.11-slim. Use it with PURELINK_BASE_IMAGE=purelink-base:bookworm.
#
#   scripts/build-base-image.sh [TAG]        default TAG: purelink-base:bookworm
#   scripts/build-base-image.sh --print-mirror   print the Debian mirror it would use, and stop
#
# Environment:
#   PURELINK_CACHE_DIR       where the root filesystem tarball is kept (default /var/cache/purelink)
#   PURELINK_DEBIAN_MIRROR   Debian mirror URL (default: the first .../debian URI in apt's sources,
#                            deb822 *.sources or one-line *.list files); there is no built-in mirror
#   PURELINK_APT_DIR         apt's configuration folder to read (default /etc/apt)
set -euo pipefail

APT_DIR="${PURELINK_APT_DIR:-/etc/apt}"
TAG="${1:-purelink-base:bookworm}"
SUITE=bookworm
PACKAGES=python3,python3-venv,ca-certificates
CACHE="${PURELINK_CACHE_DIR:-/var/cache/purelink}"
TARBALL="$CACHE/rootfs-$SUITE-minbase-${PACKAGES//,/-}.tar"

say() { echo "build-base-image: $*" >&2; }

# The Debian mirror this machine's apt already uses. A mirror is never guessed: air-gapped and
# proxied machines reach only the one they are configured with, and naming a public host here
# would send their traffic where it is not allowed.
mirror_from_apt() {
    {
        # deb822 (*.sources): "URIs:" may list several; only stanzas for binary packages count
        awk 'BEGIN { RS = ""; FS = "\n" }
             {
                 types = ""; uris = ""; enabled = "yes"
                 for (i = 1; i <= NF; i++) {
                     if ($i ~ /^[Tt]ypes:/) types = $i
                     if ($i ~ /^URIs:/) uris = $i
                     if ($i ~ /^Enabled:[[:space:]]*no/) enabled = "no"
                 }
                 if (types ~ /(^|[[:space:]:])deb([[:space:]]|$)/ && enabled == "yes") {
                     n = split(uris, u, /[[:space:]]+/)
                     for (j = 2; j <= n; j++) print u[j]
                 }
             }' "$APT_DIR"/sources.list.d/*.sources 2>/dev/null
        # one-line style (sources.list, *.list): "deb [options] URI suite components"
        grep -hE '^[[:space:]]*deb[[:space:]]' "$APT_DIR"/sources.list "$APT_DIR"/sources.list.d/*.list \
            2>/dev/null | sed -E 's/\[[^]]*\]//' | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; break}}'
    } | grep -E '^https?://.*/debian/?$' | head -n 1 || true
}

choose_mirror() {
    MIRROR="${PURELINK_DEBIAN_MIRROR:-$(mirror_from_apt)}"
    if [ -z "$MIRROR" ]; then
        say "no Debian mirror found: apt's sources in $APT_DIR (sources.list, sources.list.d/*.sources"
        say "and *.list) name no .../debian URI. Set PURELINK_DEBIAN_MIRROR to the Debian mirror this"
        say "machine may use, for example PURELINK_DEBIAN_MIRROR=http://your-mirror/debian"
        exit 1
    fi
}

if [ "${1:-}" = "--print-mirror" ]; then
    choose_mirror
    echo "$MIRROR"
    exit 0
fi

# One build at a time (parallel test workers, two terminals): the second waits, then finds the image.
exec 9>/tmp/purelink-base-image.lock
flock 9
if docker image inspect "$TAG" >/dev/null 2>&1; then
    say "$TAG already exists"
    exit 0
fi

if [ ! -s "$TARBALL" ]; then
    command -v debootstrap >/dev/null 2>&1 || {
        say "debootstrap is missing: run scripts/docker-up.sh (or apt-get install debootstrap)"
        exit 1
    }
    choose_mirror
    mkdir -p "$CACHE"
    ROOT="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
    trap 'rm -rf "$ROOT"' EXIT
    say "debootstrap $SUITE from $MIRROR (about 40 s)"
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOT" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 || {
        say "debootstrap failed; last lines of $CACHE/debootstrap.log:"
        tail -n 20 "$CACHE/debootstrap.log" >&2
        exit 1
    }
    # Downloaded packages, apt lists, docs and locales are dead weight in a runtime image (~140 MB).
    rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* \
        "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/locale/*
    # Written to a temporary name first so an interrupted run never leaves a truncated cache.
    tar --numeric-owner -C "$ROOT" -cf "$TARBALL.part" .
    mv "$TARBALL.part" "$TARBALL"
    rm -rf "$ROOT"
    trap - EXIT
else
    say "using cached root filesystem $TARBALL"
fi

docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    "$TARBALL" "$TAG" >/dev/null
say "built $TAG ($(docker image inspect "$TAG" --format '{{.Size}}') bytes)"
