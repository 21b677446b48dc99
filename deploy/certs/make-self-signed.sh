#!/usr/bin/env bash
# make-self-signed.sh: a self-signed certificate and key for localhost, for the gateway's
# HTTPS listener in deploy/compose.yaml (TLS_CERT=/etc/marquee/certs/cert.pem,
# TLS_KEY=/etc/marquee/certs/key.pem). Writes deploy/certs/cert.pem and key.pem (both
# git-ignored). For a real deployment use a certificate from your CA instead: see
# deploy/README.md ("Certificates").
#
#   deploy/certs/make-self-signed.sh [--days N] [--rsa] [--force] [--out DIR] [--uid UID]
#
# ECDSA P-256 by default (--rsa: RSA 2048). Subject alternative names: localhost,
# 127.0.0.1, ::1 and any extra names in $EXTRA_SANS (e.g. "DNS:marquee.test,IP:10.0.0.5").
# The pair is written to temporary files and then renamed into place, so a gateway that is
# told to reload (SIGHUP) never reads half a pair.
set -euo pipefail

out_dir="$(cd "$(dirname "$0")" && pwd)"
days=825
key_type=ec
force=0
# The image runs as uid/gid 10001; the key must be readable by it through the bind mount.
image_uid=10001

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --days) days="$2"; shift 2 ;;
        --rsa) key_type=rsa; shift ;;
        --force) force=1; shift ;;
        --out) out_dir="$2"; shift 2 ;;
        --uid) image_uid="$2"; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "make-self-signed.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

command -v openssl >/dev/null || { echo "make-self-signed.sh: openssl is needed (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$out_dir"
cert="$out_dir/cert.pem"
key="$out_dir/key.pem"

if [ -e "$cert" ] && [ "$force" -ne 1 ]; then
    echo "$cert exists; keeping it (use --force to replace it)."
    openssl x509 -in "$cert" -noout -subject -enddate
    exit 0
fi

sans="DNS:localhost,IP:127.0.0.1,IP:::1"
if [ -n "${EXTRA_SANS:-}" ]; then
    sans="$sans,$EXTRA_SANS"
fi

tmp_key="$(mktemp "$out_dir/.key.XXXXXX")"
tmp_cert="$(mktemp "$out_dir/.cert.XXXXXX")"
trap 'rm -f "$tmp_key" "$tmp_cert"' EXIT

if [ "$key_type" = rsa ]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp_key" 2>/dev/null
else
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp_key"
fi

openssl req -new -x509 -key "$tmp_key" -out "$tmp_cert" -days "$days" -sha256 \
    -subj "/CN=localhost/O=Marquee development" \
    -addext "subjectAltName=$sans" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature,keyEncipherment" \
    -addext "extendedKeyUsage=serverAuth"

# The key: readable by its owner and by the image's group only when we can hand it over
# (root); otherwise world-readable, which is acceptable for a throwaway localhost key only.
chmod 0644 "$tmp_cert"
if [ "$(id -u)" -eq 0 ]; then
    chgrp "$image_uid" "$tmp_key"
    chmod 0640 "$tmp_key"
else
    chmod 0644 "$tmp_key"
    echo "note: key.pem is world-readable so that the container user (uid $image_uid) can read it;" >&2
    echo "      fine for this self-signed localhost key, never for a real one." >&2
fi

mv -f "$tmp_key" "$key"
mv -f "$tmp_cert" "$cert"
trap - EXIT

echo "wrote $cert and $key ($key_type, $days days, SAN $sans)"
openssl x509 -in "$cert" -noout -subject -enddate -fingerprint -sha256
echo "A running gateway picks them up on SIGHUP: docker compose -f deploy/compose.yaml kill -s HUP gateway"
