#!/usr/bin/env bash
# A real Apache Kafka 3.9.1 (KRaft, combined broker+controller nodes) on 127.0.0.1, for
# development, tests and benchmarks. Java 17 and Maven are the only requirements.
#
#   ops/kafka/kafka.sh fetch                         download the jars (idempotent, cached)
#   ops/kafka/kafka.sh start DIR [NODES]             format + start NODES (1 or 3) nodes in DIR,
#                                                    wait until metadata lists every broker,
#                                                    print the bootstrap servers
#   ops/kafka/kafka.sh ensure DIR [NODES]            start unless DIR's cluster runs (file lock:
#                                                    concurrent callers share one cluster)
#   ops/kafka/kafka.sh stop DIR                      stop every node of DIR (SIGTERM, then KILL)
#   ops/kafka/kafka.sh kill DIR NODE                 kill -9 one node (fault tests)
#   ops/kafka/kafka.sh restart DIR NODE              start a killed node again (same storage)
#   ops/kafka/kafka.sh wait DIR [NODES]              wait until metadata lists NODES brokers
#   ops/kafka/kafka.sh bootstrap DIR                 print the bootstrap servers of DIR
#   ops/kafka/kafka.sh java CLASS ARGS...            run a class from the Kafka jars
#                                                    (e.g. org.apache.kafka.tools.ProducerPerformance)
#
# The jars live in ${CLAWVISOR_CACHE:-~/.cache/clawvisor}/kafka/libs, outside the repository.
# Ports are chosen free at start and recorded in DIR/ports. Node N keeps its data in DIR/node-N.
# Environment: KAFKA_HEAP (default -Xms128m -Xmx512m).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${CLAWVISOR_CACHE:-$HOME/.cache/clawvisor}/kafka"
libs="$cache/libs"
version=3.9.1

die() { echo "kafka.sh: $*" >&2; exit 1; }

fetch() {
  if [ -f "$libs/.complete-$version" ]; then return 0; fi
  command -v mvn >/dev/null || die "maven is missing (ops/install-deps.sh installs it)"
  command -v java >/dev/null || die "java is missing (ops/install-deps.sh installs it)"
  echo "kafka.sh: fetching Apache Kafka $version with Maven into $libs" >&2
  mkdir -p "$cache"
  rm -rf "$libs.tmp"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$libs.tmp" -DincludeScope=runtime >&2
  ls "$libs.tmp"/kafka_2.13-$version.jar "$libs.tmp"/kafka-tools-$version.jar >/dev/null
  rm -rf "$libs"
  mv "$libs.tmp" "$libs"
  touch "$libs/.complete-$version"
}

run_java() {
  fetch
  # shellcheck disable=SC2086
  exec java ${KAFKA_JAVA_OPTS:--Xms64m -Xmx512m} \
    -Dlog4j.configuration="file:$here/tools-log4j.properties" -cp "$libs/*" "$@"
}

free_ports() {  # prints $1 free TCP ports on 127.0.0.1
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

node_count() { wc -l < "$1/ports"; }
broker_port() { sed -n "${2}p" "$1/ports" | cut -d' ' -f1; }
controller_port() { sed -n "${2}p" "$1/ports" | cut -d' ' -f2; }

bootstrap() {
  local dir="$1" n out=""
  n=$(node_count "$dir")
  for i in $(seq 1 "$n"); do out+="${out:+,}127.0.0.1:$(broker_port "$dir" "$i")"; done
  echo "$out"
}

node_running() {
  local pidfile="$1/node-$2/pid"
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

launch_node() {
  local dir="$1" i="$2" node="$1/node-$2"
  # shellcheck disable=SC2086
  setsid java ${KAFKA_HEAP:--Xms128m -Xmx512m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true -Dlog4j.configuration="file:$here/log4j.properties" \
    -Dkafka.logs.dir="$node" -cp "$libs/*" kafka.Kafka "$node/server.properties" \
    >"$node/stdout.log" 2>&1 </dev/null 9>&- &
  echo $! >"$node/pid"
}

wait_brokers() {  # waits until the metadata of every node lists $2 brokers
  local dir="$1" want="$2" deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-120})) got
  while :; do
    got=$(KAFKA_JAVA_OPTS="-Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC" \
      run_java_sub kafka.admin.BrokerApiVersionsCommand --bootstrap-server "$(bootstrap "$dir")" \
      2>/dev/null | grep -c '(id: ' || true)
    [ "$got" -ge "$want" ] && return 0
    [ $SECONDS -lt $deadline ] || die "only $got of $want brokers registered in $dir (see node-*/server.log)"
    for i in $(seq 1 "$(node_count "$dir")"); do
      [ -f "$dir/node-$i/pid" ] && ! node_running "$dir" "$i" && [ ! -f "$dir/node-$i/killed" ] &&
        die "node $i exited; see $dir/node-$i/stdout.log"
    done
    sleep 1
  done
}

run_java_sub() { ( run_java "$@" ); }

start() {
  local dir="$1" n="${2:-1}"
  [ "$n" -ge 1 ] && [ "$n" -le 5 ] || die "NODES must be 1..5"
  fetch
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  [ ! -f "$dir/ports" ] || die "$dir already holds a cluster (stop it and remove the directory)"
  local ports voters="" cluster_id rf isr
  read -r -a ports <<<"$(free_ports $((2 * n)))"
  : >"$dir/ports"
  for i in $(seq 1 "$n"); do
    echo "${ports[$((2 * i - 2))]} ${ports[$((2 * i - 1))]}" >>"$dir/ports"
    voters+="${voters:+,}$i@127.0.0.1:${ports[$((2 * i - 1))]}"
  done
  rf=$((n >= 3 ? 3 : 1))
  isr=$((n >= 3 ? 2 : 1))
  cluster_id=$(run_java_sub kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
  for i in $(seq 1 "$n"); do
    local node="$dir/node-$i"
    mkdir -p "$node/data"
    cat >"$node/server.properties" <<EOF
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(broker_port "$dir" "$i"),CONTROLLER://127.0.0.1:$(controller_port "$dir" "$i")
advertised.listeners=PLAINTEXT://127.0.0.1:$(broker_port "$dir" "$i")
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$node/data
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$isr
unclean.leader.election.enable=false
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
# A killed node is declared dead (and its partitions re-led) after 3 s instead of 9 s: fault
# tests kill nodes on purpose. A production cluster keeps tuning these to its network.
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
# Dead producers' open transactions are aborted soon after transaction.timeout.ms.
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
log.segment.bytes=67108864
num.network.threads=2
num.io.threads=2
background.threads=2
log.cleaner.threads=1
num.recovery.threads.per.data.dir=1
EOF
    run_java_sub kafka.tools.StorageTool format -t "$cluster_id" -c "$node/server.properties" \
      --ignore-formatted >"$node/format.log" 2>&1 || die "formatting node $i failed: $(cat "$node/format.log")"
  done
  for i in $(seq 1 "$n"); do launch_node "$dir" "$i"; done
  wait_brokers "$dir" "$n"
  bootstrap "$dir"
}

stop() {
  local dir="$1" pids=() deadline
  [ -f "$dir/ports" ] || return 0
  for i in $(seq 1 "$(node_count "$dir")"); do
    if node_running "$dir" "$i"; then pids+=("$(cat "$dir/node-$i/pid")"); fi
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  deadline=$((SECONDS + 30))
  for p in "${pids[@]}"; do
    while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    # A controller that lost its quorum can hang in shutdown; nothing is lost by killing it then.
    kill -KILL "$p" 2>/dev/null || true
  done
}

kill_node() {
  local dir="$1" i="$2"
  node_running "$dir" "$i" || die "node $i of $dir is not running"
  touch "$dir/node-$i/killed"
  kill -KILL "$(cat "$dir/node-$i/pid")"
  while node_running "$dir" "$i"; do sleep 0.05; done
}

restart_node() {
  local dir="$1" i="$2"
  node_running "$dir" "$i" && die "node $i of $dir is running"
  rm -f "$dir/node-$i/killed"
  launch_node "$dir" "$i"
}

cmd="${1:-}"
shift || true
case "$cmd" in
  fetch) fetch ;;
  start) [ $# -ge 1 ] || die "usage: start DIR [NODES]"; start "$@" ;;
  ensure)
    [ $# -ge 1 ] || die "usage: ensure DIR [NODES]"
    mkdir -p "$(dirname "$1")"
    exec 9>"$1.lock"
    flock 9
    # A subshell: wait_brokers dies (exits) when a node is gone, which here only means "start".
    if [ -f "$1/ports" ] && (KAFKA_START_TIMEOUT=5 wait_brokers "$1" "${2:-1}") 2>/dev/null; then
      bootstrap "$1"
    else
      stop "$1"
      rm -rf "$1"
      start "$@"
    fi
    ;;
  stop) [ $# -eq 1 ] || die "usage: stop DIR"; stop "$1" ;;
  kill) [ $# -eq 2 ] || die "usage: kill DIR NODE"; kill_node "$1" "$2" ;;
  restart) [ $# -eq 2 ] || die "usage: restart DIR NODE"; restart_node "$1" "$2" ;;
  wait) [ $# -ge 1 ] || die "usage: wait DIR [NODES]"; fetch; wait_brokers "$1" "${2:-$(node_count "$1")}" ;;
  bootstrap) [ $# -eq 1 ] || die "usage: bootstrap DIR"; bootstrap "$1" ;;
  java) [ $# -ge 1 ] || die "usage: java CLASS ARGS..."; run_java "$@" ;;
  -h | --help | help | "") sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; [ -n "$cmd" ] ;;
  *) die "unknown command '$cmd' (try --help)" ;;
esac
