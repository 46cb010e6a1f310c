#!/usr/bin/env bash
# The packages' install test (run by tests/run, so by .ci/run), as root:
#
#  1. packaging/build.sh makes the .deb and .rpm (profile $PACKAGE_PROFILE,
#     default `dev`: the debug build tests/run has just made, packaged with
#     --no-build; `release` builds release binaries first), and a second
#     .deb, a newer version whose shipped settings changed;
#  2. lintian: no errors (overrides carry their reasons); every warning
#     must be listed and explained in packaging/README.md;
#  3. `rpm -qlp` lists the same files as `dpkg -c`;
#  4. a throwaway Debian root made with debootstrap from the Debian mirror
#     apt uses (no registry pull), imported into Docker, where
#     tests/package/in-container.sh installs, runs, upgrades, removes and
#     purges the .deb;
#  5. the .rpm installed with `rpm -i --nodeps --root` into a copy of that
#     root, its scripts run there, and the binary run from it.
#
# Without Docker, debootstrap, lintian or rpm the test is skipped loudly,
# and fails under CI=true.
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$(date +%s)

die() { echo "package install test: FAILED: $*" >&2; exit 1; }
if [ "$(id -u)" != 0 ]; then
    if [ "${CI:-}" = true ]; then die "run it as root (it installs packages into roots of its own)"; fi
    echo "package install test: SKIPPED: not root (.ci/run runs it as root)" >&2
    exit 0
fi
for tool in docker debootstrap lintian rpm rpmbuild dpkg-deb jq cc make; do
    if ! command -v "$tool" >/dev/null; then
        if [ "${CI:-}" = true ]; then die "'$tool' is not installed"; fi
        echo "package install test: SKIPPED: '$tool' is not installed (.ci/run installs it)" >&2
        exit 0
    fi
done
docker info >/dev/null 2>&1 || {
    if [ "${CI:-}" = true ]; then die "the Docker engine does not answer"; fi
    echo "package install test: SKIPPED: the Docker engine does not answer" >&2
    exit 0
}

profile=${PACKAGE_PROFILE:-dev}
build_flag=()
[ "$profile" = dev ] && build_flag=(--no-build)
target_dir=$(cargo metadata --no-deps --format-version 1 | jq -r .target_directory)
work=$target_dir/package-test
rm -rf "$work"
mkdir -p "$work"
export PACKAGER="${PACKAGER:-Vespene install test <install-test@vespene.invalid>}"
container=""
cleanup() {
    [ -z "$container" ] || docker rm -f "$container" >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== packages ($profile profile)" >&2
mapfile -t v1 < <(packaging/build.sh --profile "$profile" "${build_flag[@]}" --out "$work/v1")
deb=${v1[0]} rpm=${v1[1]}
version=$(dpkg-deb -f "$deb" Version)
# The next version changes shipped settings: a comment of 30-server.toml
# (which the admin will have edited) and an effective default in
# 20-workers.toml (which the admin left alone).
mkdir -p "$work/v2"
cp -r etc/vespene/settings.d "$work/v2/settings.d"
sed -i 's/^# session_hours = 12$/# session_hours = 8/' "$work/v2/settings.d/30-server.toml"
grep -q '^# session_hours = 8$' "$work/v2/settings.d/30-server.toml" || die "could not change 30-server.toml"
printf '\n[worker]\nheartbeat_seconds = 4\n' >>"$work/v2/settings.d/20-workers.toml"
echo "$version+upgrade1" >"$work/v2/version"
packaging/build.sh --profile "$profile" --no-build --out "$work/v2" --version "$version+upgrade1" \
    --settings "$work/v2/settings.d" >/dev/null

echo "== lintian" >&2
lintian --pedantic "$deb" >"$work/lintian.txt" 2>&1 || true
grep -v '^running with root privileges' "$work/lintian.txt" || true
if grep -q '^E:' "$work/lintian.txt"; then die "lintian reports errors (above)"; fi
for tag in $(sed -n 's/^W: vespene[^:]*: \([^ ]*\).*/\1/p' "$work/lintian.txt" | sort -u); do
    grep -q "\`$tag\`" packaging/README.md || die "lintian warning '$tag' is not explained in packaging/README.md"
done

echo "== rpm -qlp and dpkg -c list the same files" >&2
dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print substr($6, 2)}' | sort >"$work/deb-files.txt"
rpm -qlvp "$rpm" | awk '$1 !~ /^d/ {print $9}' | sort >"$work/rpm-files.txt"
dpkg-deb -c "$deb" | awk '$1 ~ /^d/ {p = substr($6, 2); sub("/$", "", p); if (p ~ /vespene/) print p}' |
    sort >"$work/deb-dirs.txt"
rpm -qlvp "$rpm" | awk '$1 ~ /^d/ {print $9}' | sort >"$work/rpm-dirs.txt"
diff -u "$work/deb-files.txt" "$work/rpm-files.txt" || die "the .rpm's files differ from the .deb's"
diff -u "$work/deb-dirs.txt" "$work/rpm-dirs.txt" || die "the .rpm's directories differ from the .deb's"
echo "$(wc -l <"$work/deb-files.txt") files and $(wc -l <"$work/deb-dirs.txt") directories in both" >&2

echo "== a third-party plugin, built from the header and example the .deb ships" >&2
dpkg-deb -x "$deb" "$work/extracted"
cp -r "$work/extracted/usr/share/vespene" "$work/plugin-src"
make -s -C "$work/plugin-src/examples/c" OUT="$work"
cp "$work/v1/stock-plugins.txt" tests/package/run-unit tests/package/in-container.sh "$work/"

echo "== a throwaway Debian root" >&2
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
mirror=${VESPENE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# The package's dependencies, and what the test itself uses.
packages=$( (dpkg-deb -f "$deb" Depends; echo ,; dpkg-deb -f "$deb" Recommends) |
    tr ',' '\n' | sed 's/(.*)//; s/|.*//; s/ //g' | grep . | sort -u | tr '\n' ',')
packages+="curl,jq,procps"
image=vespene-pkg-test/debian:$codename-$(echo "$packages" | sha256sum | cut -c1-12)
if ! docker image inspect "$image" >/dev/null 2>&1; then
    debootstrap --variant=minbase --include="$packages" "$codename" "$work/rootfs" "$mirror" \
        >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; die "debootstrap"; }
    tar -C "$work/rootfs" -c . | docker import - "$image" >/dev/null
    rm -rf "$work/rootfs"
fi

echo "== install, run, upgrade, remove, purge the .deb in it" >&2
container=vespene-pkg-test-$$
# No network: everything the package needs is in the image. Mount
# namespaces (for run-unit's sandboxing), unprivileged user namespaces and
# an unmasked /proc (for the namespace launcher's own /proc) need these options.
docker run -d --name "$container" --network none --hostname vespene-pkg-test \
    --cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --security-opt systempaths=unconfined -v "$work:/pkg:ro" "$image" sleep infinity >/dev/null
docker exec "$container" bash /pkg/in-container.sh || die "in the container (see above)"
docker rm -f "$container" >/dev/null
container=""

echo "== the .rpm, with rpm -i --nodeps --root" >&2
rpmroot=$work/rpmroot
mkdir -p "$rpmroot"
cid=$(docker create "$image" true)
docker export "$cid" | tar -C "$rpmroot" -x
docker rm "$cid" >/dev/null
rpm -i --nodeps --root "$rpmroot" "$rpm" >"$work/rpm-install.log" 2>&1 ||
    { cat "$work/rpm-install.log"; die "rpm -i"; }
grep -q '^admin login: admin / ' "$work/rpm-install.log" ||
    { cat "$work/rpm-install.log"; die "the .rpm's %post printed no admin login"; }
[ "$(chroot "$rpmroot" stat -c '%a %U' /etc/vespene/secrets.key)" = "600 vespene" ] ||
    die "the .rpm's %post made no secrets key owned by vespene"
chroot "$rpmroot" /usr/bin/vespene --version
# plugins list runs its scanner child through /proc/self/exe.
unshare --mount --fork -- sh -c "mount -t proc proc '$rpmroot/proc' &&
    chroot '$rpmroot' runuser -u vespene -- /usr/bin/vespene plugins list" >"$work/rpm-plugins.txt" ||
    { cat "$work/rpm-plugins.txt"; die "vespene plugins list in the rpm root"; }
while read -r so; do
    grep -q "/usr/lib/vespene/plugins/$so" "$work/rpm-plugins.txt" || die "$so missing from the rpm root's plugin list"
done <"$work/stock-plugins.txt"
rm -rf "$rpmroot"

echo "== package install test passed in $(($(date +%s) - started)) s" >&2
