#!/usr/bin/env bash
# debian.sh ENGINE IMAGE LABEL: makes IMAGE (debian:bookworm-slim's stand-in) from Debian's
# archive with debootstrap and imports it into ENGINE (podman or docker), labelled LABEL.
#
# For a machine that reaches Debian's archive but no container registry: the Dockerfile and the
# other local images start FROM debian:bookworm-slim, and this is the same release (bookworm,
# Debian 12) made the way Debian's own minimal images are: --variant=minbase (essential packages
# and apt only), no documentation or man pages, no apt lists or caches. The apt sources are the
# machine's own when it runs bookworm (the same mirror, and bookworm-updates and -security), else
# the mirror debootstrap used. deploy/lib/containers runs it; it needs root (debootstrap).
set -euo pipefail

engine=${1:?usage: debian.sh ENGINE IMAGE LABEL}
image=${2:?usage: debian.sh ENGINE IMAGE LABEL}
label=${3:?usage: debian.sh ENGINE IMAGE LABEL}
suite=bookworm

# The machine's Debian mirror, when it names one for this suite (deb822 .sources or one-line
# .list files); debootstrap's default otherwise.
machine_mirror() {
    local file
    for file in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$file" ]] || continue
        awk -v suite="$suite" '
            /^URIs:/ { uri = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) found = uri }
            /^$/ { uri = "" }
            END { if (found != "") print found }' "$file" | head -n 1
    done
    if [[ -f /etc/apt/sources.list ]]; then
        awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2; exit }' /etc/apt/sources.list
    fi
}

rootfs=$(mktemp -d "${TMPDIR:-/tmp}/marquee-debian-rootfs.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT
mirror=$(machine_mirror | head -n 1)

echo "debian.sh: debootstrap --variant=minbase $suite ${mirror:-(default mirror)} (about a minute)"
debootstrap --variant=minbase "$suite" "$rootfs" ${mirror:+"$mirror"} >"$rootfs.log" 2>&1 || {
    tail -n 20 "$rootfs.log" >&2
    rm -f "$rootfs.log"
    echo "debian.sh: debootstrap failed" >&2
    exit 1
}
rm -f "$rootfs.log"

# The machine's apt sources when it is the same release, so that images built on it see the same
# packages (and security updates) as the machine.
if grep -qs "VERSION_CODENAME=$suite" /etc/os-release; then
    rm -f "$rootfs/etc/apt/sources.list"
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -f "$file" ]] && cp "$file" "$rootfs$file"
    done
fi

# As Debian's slim images: no documentation from later installs, nothing cached.
mkdir -p "$rootfs/etc/dpkg/dpkg.cfg.d"
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/marquee-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
CFG
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
find "$rootfs/usr/share/doc" -type f ! -name copyright -delete

if ! tar -C "$rootfs" --numeric-owner -c . |
    "$engine" import --change "LABEL $label" --change 'CMD ["bash"]' - "$image" >"$rootfs.log" 2>&1; then
    cat "$rootfs.log" >&2
    rm -f "$rootfs.log"
    echo "debian.sh: $engine import failed" >&2
    exit 1
fi
rm -f "$rootfs.log"
echo "debian.sh: imported $image"
