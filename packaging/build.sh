#!/usr/bin/env bash
# Builds the vespene binary and every stock plugin, and packages them as a
# .deb and an .rpm from one staged file tree (so both install the same
# files).
#
#   packaging/build.sh [--profile PROFILE] [--no-build] [--out DIR]
#                      [--version VERSION] [--settings DIR]
#                      [--maintainer "NAME <EMAIL>"]
#
#   --profile PROFILE  cargo profile to build and package (default: release;
#                      `dev` packages target/debug, as the install test does)
#   --no-build         package what target/<profile> already holds
#   --out DIR          where the packages go (default: target/packages)
#   --version VERSION  package version (default: the workspace's)
#   --settings DIR     the shipped settings.d (default: etc/vespene/settings.d)
#   --maintainer ID    the packager, "NAME <EMAIL>" (default: PACKAGER,
#                      else git's user.name and user.email)
#
# Needs cargo, jq, dpkg-deb, dpkg-shlibdeps, rpmbuild and binutils (strip);
# checks the systemd units with systemd-analyze when it is installed.
# Prints the paths of the two packages.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

profile=release
build=1
out=""
version=""
settings_src=etc/vespene/settings.d
maintainer="${PACKAGER:-}"
while [ $# -gt 0 ]; do
    case "$1" in
    --profile) profile=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --out) out=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --settings) settings_src=$2; shift 2 ;;
    --maintainer) maintainer=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "packaging/build.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

die() { echo "packaging/build.sh: $*" >&2; exit 1; }
for tool in cargo jq dpkg-deb dpkg-shlibdeps rpmbuild strip gzip; do
    command -v "$tool" >/dev/null || die "'$tool' is not installed (Debian: apt-get install jq dpkg-dev rpm binutils)"
done
[ -d "$settings_src" ] || die "--settings $settings_src: no such directory"
if [ -z "$maintainer" ]; then
    name=$(git config user.name 2>/dev/null || true)
    email=$(git config user.email 2>/dev/null || true)
    [ -n "$name" ] && [ -n "$email" ] ||
        die "say who packages it: --maintainer \"NAME <EMAIL>\" (or PACKAGER, or git's user.name and user.email)"
    maintainer="$name <$email>"
fi
case "$maintainer" in
*" <"*@*">") ;;
*) die "--maintainer '$maintainer' is not of the form \"NAME <EMAIL>\"" ;;
esac

metadata=$(cargo metadata --no-deps --format-version 1)
target_dir=$(jq -r .target_directory <<<"$metadata")
[ -n "$version" ] || version=$(jq -r '.packages[] | select(.name == "vespene-server") | .version' <<<"$metadata")
case "$profile" in
dev) artifacts=$target_dir/debug ;;
*) artifacts=$target_dir/$profile ;;
esac
out=${out:-$target_dir/packages}

# Every cdylib crate under plugins/: "package<TAB>library name" (a library
# crate there that is not a plugin, such as notify-support, is left out).
# New plugin crates are packaged without touching this script.
mapfile -t plugins < <(jq -r --arg dir "$ROOT/plugins/" '
    .packages[] | select(.manifest_path | startswith($dir)) | .name as $package
    | .targets[] | select(.crate_types | index("cdylib")) | [$package, .name] | @tsv' <<<"$metadata")
[ ${#plugins[@]} -gt 0 ] || die "no plugin crates found under plugins/"

if [ "$build" = 1 ]; then
    args=(-p vespene-server)
    for p in "${plugins[@]}"; do args+=(-p "${p%%$'\t'*}"); done
    echo "== cargo build --profile $profile (${#plugins[@]} plugins)" >&2
    cargo build --profile "$profile" "${args[@]}"
fi

# ---- the staged tree: exactly what both packages install ----------------
stage=$out/root
rm -rf "$stage"
mkdir -p "$out"
put() { # MODE SOURCE DESTINATION (a path in the installed system)
    [ -f "$2" ] || die "$2 is missing (build it first, or leave out --no-build)"
    install -D -m "$1" "$2" "$stage$3"
}
put 0755 "$artifacts/vespene" /usr/bin/vespene
: >"$out/stock-plugins.txt"
for p in "${plugins[@]}"; do
    file=lib${p#*$'\t'}.so
    put 0644 "$artifacts/$file" "/usr/lib/vespene/plugins/$file"
    echo "$file" >>"$out/stock-plugins.txt"
done
# The namespace isolation's launcher (a bin of its plugin crate), found by
# the plugin in ../lib/vespene from /usr/bin/vespene.
put 0755 "$artifacts/vespene-namespace-launcher" /usr/lib/vespene/vespene-namespace-launcher
strip --strip-unneeded "$stage/usr/bin/vespene" "$stage"/usr/lib/vespene/plugins/*.so \
    "$stage/usr/lib/vespene/vespene-namespace-launcher"
# Manual pages (vespene(1) and one per subcommand), made by the staged
# binary from the same definitions as its --help.
"$stage/usr/bin/vespene" __man-pages "$stage/usr/share/man/man1" ||
    die "vespene __man-pages failed"
gzip -9n "$stage"/usr/share/man/man1/*.1
chmod 0644 "$stage"/usr/share/man/man1/*.1.gz
put 0755 packaging/scripts/vespene-setup /usr/lib/vespene/vespene-setup
for f in "$settings_src"/*.toml; do
    put 0644 "$f" "/etc/vespene/settings.d/$(basename "$f")"
done
for f in packaging/systemd/*.service; do
    put 0644 "$f" "/usr/lib/systemd/system/$(basename "$f")"
done
put 0644 vespene-plugin-api/include/vespene_plugin.h /usr/share/vespene/include/vespene_plugin.h
for f in vespene-plugin-api/examples/c/Makefile vespene-plugin-api/examples/c/*.[ch]; do
    put 0644 "$f" "/usr/share/vespene/examples/c/$(basename "$f")"
done
put 0644 vespene-plugin-api/examples/redact.rs /usr/share/vespene/examples/rust/redact.rs
doc=/usr/share/doc/vespene
put 0644 README.md $doc/README.md
put 0644 ARCHITECTURE.md $doc/ARCHITECTURE.md
for f in docs/*.md; do put 0644 "$f" "$doc/docs/$(basename "$f")"; done
put 0644 packaging/deb/copyright $doc/copyright
# lintian's overrides. Each `embedded-library` hint fires only when the
# optimiser kept the code lintian looks for (it differs between profiles
# and builds), and an override for a hint that does not fire is itself a
# warning: so an override goes in only when lintian's own pattern for that
# library (its data table, when lintian is installed) is found in the file.
embedded_libs=/usr/share/lintian/data/binaries/embedded-libs
overrides=$(mktemp)
while IFS= read -r line; do
    if [[ $line =~ ^vespene:\ embedded-library\ ([^ ]+)\ \[([^]]+)\]$ ]] && [ -f "$embedded_libs" ]; then
        pattern=$(awk -v lib="${BASH_REMATCH[1]}" '$1 == lib { sub(/^[^|]*\|\|[^|]*\|\|/, ""); print; exit }' "$embedded_libs")
        if [ -n "$pattern" ] && ! grep -qP -- "$pattern" < <(strings -a "$stage/${BASH_REMATCH[2]}"); then
            continue
        fi
    fi
    printf '%s\n' "$line"
done <packaging/deb/lintian-overrides >"$overrides"
if grep -q '^vespene:' "$overrides"; then
    put 0644 "$overrides" /usr/share/lintian/overrides/vespene
fi
rm -f "$overrides"

# The Debian changelog (a native package's is changelog.gz), dated by the
# commit so that a rebuild of one commit gives the same file.
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
{
    echo "vespene ($version) unstable; urgency=medium"
    echo
    echo "  * Built from the Vespene workspace at commit $commit."
    echo
    echo " -- $maintainer  $(LC_ALL=C date -u -R -d "@$epoch")"
} | gzip -9n >"$stage$doc/changelog.gz"
chmod 0644 "$stage$doc/changelog.gz"
find "$stage" -exec touch -h -d "@$epoch" {} +

if command -v systemd-analyze >/dev/null; then
    # In a root holding this system's units (for the targets they name) and
    # the staged ones with the staged binary. Any remark (an unknown key is
    # only a warning to systemd) fails the build.
    verify_root=$(mktemp -d -p "$out")
    mkdir -p "$verify_root/usr/lib/systemd" "$verify_root/usr/bin"
    cp -a /usr/lib/systemd/system "$verify_root/usr/lib/systemd/"
    cp "$stage"/usr/lib/systemd/system/*.service "$verify_root/usr/lib/systemd/system/"
    ln "$stage/usr/bin/vespene" "$verify_root/usr/bin/vespene"
    units=("$verify_root"/usr/lib/systemd/system/vespene*.service)
    remarks=$(systemd-analyze verify --root="$verify_root" "${units[@]}" 2>&1) || remarks+=" (exit status $?)"
    rm -rf "$verify_root"
    [ -z "$remarks" ] || die "systemd-analyze verify of packaging/systemd/*.service: $remarks"
fi

case "$profile" in
release) deb_z=(-Zxz -z6); rpm_payload=w6.xzdio ;;
*) deb_z=(-Zgzip -z1); rpm_payload=w1.gzdio ;;
esac
description="self-hosted build and deploy server (CI/CD)"
long_description="Vespene runs builds of projects on workers: it checks the repository
out, renders the build script (Jinja2), runs it in an isolation (Linux
namespaces or sudo as a build user), stores and streams its output and runs
triggers. Pipelines chain projects into stages. Everything site-specific is
a native plugin loaded from /usr/lib/vespene/plugins and
/usr/local/lib/vespene/plugins."

# ---- .deb -----------------------------------------------------------------
deb_arch=$(dpkg --print-architecture)
debroot=$out/deb
rm -rf "$debroot"
cp -a "$stage" "$debroot"
mkdir -p "$debroot/DEBIAN"
shlibs_dir=$(mktemp -d)
mkdir -p "$shlibs_dir/debian"
printf 'Source: vespene\n\nPackage: vespene\nArchitecture: any\n' >"$shlibs_dir/debian/control"
shlibs=$(cd "$shlibs_dir" && dpkg-shlibdeps -O --warnings=0 \
    "$debroot/usr/bin/vespene" "$debroot"/usr/lib/vespene/plugins/*.so \
    "$debroot/usr/lib/vespene/vespene-namespace-launcher")
rm -rf "$shlibs_dir"
shlibs=${shlibs#shlibs:Depends=}
{
    echo "Package: vespene"
    echo "Version: $version"
    echo "Architecture: $deb_arch"
    echo "Maintainer: $maintainer"
    echo "Installed-Size: $(du -s -k --apparent-size --exclude=DEBIAN "$debroot" | cut -f1)"
    echo "Depends: $shlibs, openssh-client, passwd"
    echo "Recommends: sudo, git"
    echo "Suggests: subversion, postgresql-client"
    echo "Section: devel"
    echo "Priority: optional"
    echo "Homepage: https://github.com/vespene-io/vespene"
    echo "Description: $description"
    sed 's/^/ /' <<<"$long_description"
} >"$debroot/DEBIAN/control"
(cd "$debroot" && find etc -type f | sort | sed 's|^|/|') >"$debroot/DEBIAN/conffiles"
(cd "$debroot" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
    xargs -0 md5sum) >"$debroot/DEBIAN/md5sums"
for s in postinst prerm postrm; do install -m 0755 "packaging/deb/$s" "$debroot/DEBIAN/$s"; done
chmod 0644 "$debroot/DEBIAN/control" "$debroot/DEBIAN/conffiles" "$debroot/DEBIAN/md5sums"
deb=$out/vespene_${version}_${deb_arch}.deb
SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group "${deb_z[@]}" --build "$debroot" "$deb" >/dev/null
rm -rf "$debroot"

# ---- .rpm -----------------------------------------------------------------
rpm_version=${version//-/_}
rpm_arch=$(rpm --eval '%{_arch}')
topdir=$(mktemp -d)
spec=$topdir/vespene.spec
{
    sed -e "s|@VERSION@|$rpm_version|" -e "s|@SUMMARY@|$description|" \
        -e "s|@PAYLOAD@|$rpm_payload|" -e "s|@PACKAGER@|$maintainer|" \
        -e "s|@STAGE@|$stage|" packaging/rpm/vespene.spec.in
    echo
    echo "%description"
    echo "$long_description"
    echo
    echo "%files"
    (cd "$stage" && find . -mindepth 1 | sort | sed 's|^\.||') | while read -r path; do
        if [ -d "$stage$path" ]; then
            # Only the directories that are Vespene's own.
            case "$path" in *vespene*) echo "%dir $path" ;; esac
        elif [ "${path#/etc/}" != "$path" ]; then
            echo "%config(noreplace) $path"
        else
            echo "$path"
        fi
    done
} >"$spec"
rpmbuild -bb --quiet --target "$rpm_arch" \
    --define "_topdir $topdir" --define "_rpmdir $topdir/out" \
    --define "_source_date_epoch $epoch" "$spec" >/dev/null
rpm=$out/vespene-$rpm_version-1.$rpm_arch.rpm
mv "$topdir"/out/*/*.rpm "$rpm"
rm -rf "$topdir"

echo "$deb"
echo "$rpm"
