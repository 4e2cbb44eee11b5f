#!/usr/bin/env bash
# KafkaEventLog against Kafka's own tools, same single-node broker, same run:
#   append:  kafka_bench (KafkaEventLog.Append: transactional, idempotent, acks=all, one record
#            per request from 64 threads, group-committed)  vs  ProducerPerformance with
#            acks=all + idempotence (and a transactional run), same record size and count
#   consume: KafkaEventLog.Poll and Projector.CatchUp (read_committed)  vs  ConsumerPerformance
#            (read_committed) over the same topic
# Usage: ops/bench/kafka_bench.sh [RECORDS] [RECORD_SIZE]     (build first: ninja kafka_bench)
set -euo pipefail
cd "$(dirname "$0")/../.."
records=${1:-20000}
size=${2:-256}
build=${BUILD_DIR:-build}
dir=$(mktemp -d /tmp/clawvisor-kafka-bench-XXXXXX)
trap 'ops/kafka/kafka.sh stop "$dir/kafka"; rm -rf "$dir"' EXIT
bootstrap=$(ops/kafka/kafka.sh start "$dir/kafka" 1)
echo "== broker $bootstrap (Apache Kafka 3.9.1, 1 node, KRaft); $records records of ~$size bytes"
"$build/adapters/cli/clawvisor" kafka init --bootstrap-servers "$bootstrap" --partitions 4 \
  --replication-factor 1 --min-insync-replicas 1 >/dev/null
ops/kafka/kafka.sh java org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" \
  --create --topic bench.peer --partitions 4 --replication-factor 1 >/dev/null
ops/kafka/kafka.sh java org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" \
  --create --topic bench.peer-txn --partitions 4 --replication-factor 1 >/dev/null

echo "== append"
"$build/ops/bench/kafka_bench" --bootstrap-servers "$bootstrap" --records "$records" \
  --record-size "$size" --concurrency 64 --partitions 4 2>/dev/null | tee "$dir/ours.txt"
# Group commit is bounded by the callers in flight (each waits for its transaction's commit):
# the same with 512 concurrent callers (append only; the consume figures below read the first
# run's records).
"$build/ops/bench/kafka_bench" --bootstrap-servers "$bootstrap" --records "$records" \
  --record-size "$size" --concurrency 512 --partitions 4 --consume 0 2>/dev/null
echo -n "Kafka ProducerPerformance (acks=all, idempotence, linger.ms=1): "
ops/kafka/kafka.sh java org.apache.kafka.tools.ProducerPerformance --topic bench.peer \
  --num-records "$records" --record-size "$size" --throughput -1 \
  --producer-props bootstrap.servers="$bootstrap" acks=all enable.idempotence=true linger.ms=1 \
  2>/dev/null | tail -1
echo -n "Kafka ProducerPerformance (transactional, 10 ms transactions): "
ops/kafka/kafka.sh java org.apache.kafka.tools.ProducerPerformance --topic bench.peer-txn \
  --num-records "$records" --record-size "$size" --throughput -1 \
  --transactional-id bench-peer --transaction-duration-ms 10 \
  --producer-props bootstrap.servers="$bootstrap" acks=all enable.idempotence=true linger.ms=1 \
  2>/dev/null | tail -1

echo "== consume (the events topic kafka_bench wrote, read_committed)"
echo "isolation.level=read_committed" >"$dir/consumer.properties"
echo "Kafka ConsumerPerformance:"
ops/kafka/kafka.sh java org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$bootstrap" \
  --topic clawvisor.events --messages "$records" --group bench-peer \
  --consumer.config "$dir/consumer.properties" 2>/dev/null | tail -2
