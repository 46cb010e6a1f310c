#!/usr/bin/env bash
# Checks that the Docker engine answers and makes the container isolation's
# test image from scratch (there is no registry: nothing can be pulled): a
# root file system of Debian's busybox-static, every applet a link to it,
# imported as vespene-test/busybox:1. Prints the line that points the tests
# at it:
#
#   eval "$(bash tests/services/docker.sh)"
#
# Idempotent (an image already there is kept). Everything but the export
# line goes to stderr.
set -euo pipefail

IMAGE=${VESPENE_TEST_DOCKER_IMAGE:-vespene-test/busybox:1}
SOCKET=${VESPENE_TEST_DOCKER_SOCKET:-/var/run/docker.sock}
BUSYBOX=${VESPENE_TEST_BUSYBOX:-/bin/busybox}
log() { echo "docker.sh: $*" >&2; }

command -v docker >/dev/null || { log "the docker command is not installed"; exit 1; }
export DOCKER_HOST="unix://$SOCKET"
if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    log "the Docker engine at $DOCKER_HOST does not answer (is dockerd running?)"
    exit 1
fi

if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
    [ -x "$BUSYBOX" ] || { log "$BUSYBOX is missing (apt-get install busybox-static)"; exit 1; }
    if ldd "$BUSYBOX" >/dev/null 2>&1; then
        log "$BUSYBOX is linked dynamically: install busybox-static instead of busybox"
        exit 1
    fi
    rootfs=$(mktemp -d)
    trap 'rm -rf "$rootfs"' EXIT
    mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/proc" "$rootfs/dev" "$rootfs/sys"
    chmod 1777 "$rootfs/tmp"
    cp "$BUSYBOX" "$rootfs/bin/busybox"
    for applet in $("$BUSYBOX" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' > "$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
    tar -C "$rootfs" -c . | docker import --change 'ENV PATH=/bin' - "$IMAGE" >/dev/null
    log "made $IMAGE from $BUSYBOX"
fi
echo "export VESPENE_TEST_DOCKER_IMAGE=$IMAGE"
