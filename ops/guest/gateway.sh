#!/bin/sh
# One HTTP/1.0 exchange of the test gateway (run by `nc -ll -e` per connection).
# /healthz and /readyz are open; every other path requires "Authorization: Bearer <token>".
cr=$(printf '\r')
read -r method target proto
auth=""
while read -r line; do
  line=${line%"$cr"}
  [ -z "$line" ] && break
  case "$line" in
    [Aa]uthorization:*) auth=${line#*: } ;;
    [Ss]ec-[Ww]eb[Ss]ocket-[Kk]ey:*) wskey=${line#*: } ;;
    [Cc]ontent-[Ll]ength:*) length=${line#*: } ;;
  esac
done
path=${target%%\?*}

crash_after=$(cat /run/crash_after 2>/dev/null)
if [ -n "$crash_after" ] && [ "$crash_after" != 0 ] && [ ! -e /data/.crashed ]; then
  served=$(( $(cat /run/served 2>/dev/null || echo 0) + 1 ))
  echo "$served" > /run/served
  if [ "$served" -ge "$crash_after" ]; then
    touch /data/.crashed && sync
    echo "clawvisor-guest: crashing" > /dev/ttyS0
    echo c > /proc/sysrq-trigger
  fi
fi
query=${target#"$path"}; query=${query#\?}

reply() {  # status, body
  printf 'HTTP/1.0 %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' \
    "$1" "${#2}" "$2"
}

case "$path" in
  /healthz)
    if [ -e /run/fail_health ]; then reply "503 Service Unavailable" '{"ok":false}'
    else reply "200 OK" '{"ok":true,"status":"live"}'; fi
    exit 0 ;;
  /readyz)
    if [ -e /run/fail_health ]; then reply "503 Service Unavailable" '{"ready":false}'
    else reply "200 OK" '{"ready":true}'; fi
    exit 0 ;;
esac

# Every request past the open probes is counted, before its token is checked: a request the
# front door refused must never show up here.
echo "$path" >> /run/requests
token=$(cat /run/gateway_token)
case "$path" in
  /hooks/*)
    # OpenClaw's webhook ingress (hooks.path): its own token, hooks.token, which clawvisor
    # derives from the gateway token (adapters/front_door/hooks_token.h); the gateway token is
    # not accepted here, nor the hooks token anywhere else.
    hooks=$(printf '%s' "clawvisor-hooks-v1:$token" | sha256sum | cut -d' ' -f1)
    if [ -z "$token" ] || [ "$auth" != "Bearer $hooks" ]; then
      reply "401 Unauthorized" '{"error":"unauthorized"}'
      exit 0
    fi
    bytes=0
    if [ -n "$length" ] && [ "$length" -gt 0 ] 2>/dev/null; then
      bytes=$(head -c "$length" | wc -c)
    fi
    shown=$(printf '%s' "$path" | tr -cd 'A-Za-z0-9/._-')
    reply "200 OK" "{\"hook\":\"$shown\",\"method\":\"$method\",\"bytes\":$bytes}"
    exit 0 ;;
esac
if [ -z "$token" ] || [ "$auth" != "Bearer $token" ]; then
  reply "401 Unauthorized" '{"error":"unauthorized"}'
  exit 0
fi

case "$path" in
  /v1/credentials/*)
    # The SHA-256 of a credential's value: shows it arrived without echoing it.
    name=${path#/v1/credentials/}
    value=$(grep "\"name\": \"$name\"" /run/config.json | sed -n 's/.*"value": "\([^"]*\)".*/\1/p' | head -1)
    if [ -z "$value" ]; then reply "404 Not Found" '{"error":"no such credential"}'
    else reply "200 OK" "{\"sha256\":\"$(printf '%s' "$value" | sha256sum | cut -d' ' -f1)\"}"; fi ;;
  /v1/connect)
    # Whether this guest can open a TCP connection to query "addr=HOST:PORT" (isolation tests).
    addr=${query#addr=}
    host=${addr%:*}; port=${addr##*:}
    if echo | nc -w 2 "$host" "$port" >/dev/null 2>&1; then reply "200 OK" '{"reachable":true}'
    else reply "200 OK" '{"reachable":false}'; fi ;;
  /v1/https)
    # An HTTPS GET from inside the guest through its one way out (egress tests, design D9):
    # query "via=proxy|tls|nosni|plain&host=NAME[&port=N]". The reply carries the last line the
    # server sent (its body), letters, digits and " ._-" only.
    via=$(echo "$query" | sed -n 's/.*via=\([a-z]*\).*/\1/p')
    host=$(echo "$query" | sed -n 's/.*host=\([A-Za-z0-9.-]*\).*/\1/p')
    port=$(echo "$query" | sed -n 's/.*port=\([0-9]*\).*/\1/p')
    port=${port:-443}
    # A function, not a variable: command substitution would strip the request's final newline.
    get() { printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "$host"; }
    export OPENSSL_CONF=/dev/null
    case "$via" in
      proxy) out=$(get | timeout 20 openssl s_client -quiet -proxy 10.0.2.100:3128 \
                   -connect "$host:$port" -servername "$host" 2>/dev/null | tail -1) ;;
      tls) out=$(get | timeout 20 openssl s_client -quiet -connect 10.0.2.100:443 \
                 -servername "$host" 2>/dev/null | tail -1) ;;
      nosni) out=$(get | timeout 20 openssl s_client -quiet -connect 10.0.2.100:443 \
                   -noservername 2>/dev/null | tail -1) ;;
      plain) out=$(get | timeout 20 nc 10.0.2.100 443 2>/dev/null | tail -1) ;;
      *) out="" ;;
    esac
    out=$(printf '%s' "$out" | tr -cd 'A-Za-z0-9 ._-')
    reply "200 OK" "{\"body\":\"$out\"}" ;;
  /v1/ws)
    # A WebSocket that echoes every byte it gets (the front door's upgrade test): the handshake,
    # then the connection's bytes back as they came.
    accept=$(printf '%s' "${wskey}258EAFA5-E914-47DA-95CA-C5AB0DC85B11" | sha1sum | cut -c1-40 |
             xxd -r -p | base64)
    printf 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n' "$accept"
    exec cat ;;
  /v1/seen)
    # How many requests reached the gateway, this one included (the front door's tests).
    reply "200 OK" "{\"seen\":$(wc -l < /run/requests)}"
    exit 0 ;;
  /v1/disk)
    used=$(df -k /data | tail -1 | awk '{print $3}')
    reply "200 OK" "{\"used_kib\":${used:-0}}" ;;
  *)
    reply "200 OK" '{"gateway":"clawvisor-test-guest"}' ;;
esac
