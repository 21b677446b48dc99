#!/bin/bash
# marquee-healthcheck [PORT]: exit 0 when GET http://127.0.0.1:PORT/health answers 200.
#
# The image's HEALTHCHECK. Plain bash (/dev/tcp) so that the runtime image needs neither
# curl nor wget. PORT defaults to $PORT, the port the process in this container serves.
set -euo pipefail

port="${1:-${PORT:-8080}}"
timeout_s="${HEALTHCHECK_TIMEOUT:-3}"

if ! exec 3<>"/dev/tcp/127.0.0.1/${port}"; then
    echo "unhealthy: nothing listens on 127.0.0.1:${port}" >&2
    exit 1
fi
printf 'GET /health HTTP/1.1\r\nHost: localhost\r\nUser-Agent: marquee-healthcheck\r\nConnection: close\r\n\r\n' >&3

status=""
IFS= read -r -t "${timeout_s}" status <&3 || true
exec 3<&-
status="${status%$'\r'}"

case "${status}" in
    "HTTP/1.1 200"* | "HTTP/1.0 200"*) exit 0 ;;
esac
echo "unhealthy: GET /health on :${port} answered '${status:-nothing}'" >&2
exit 1
