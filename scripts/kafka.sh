#!/usr/bin/env bash
# A single-node Apache Kafka 4 broker in KRaft mode (broker and controller in one JVM) on
# 127.0.0.1, for the integration tests and full mode. No Docker and no tarball: Maven copies the
# broker's jars from Maven Central (scripts/kafka/pom.xml) into .cache/kafka/libs once, keeping
# its own repository in .cache/m2.
#   scripts/kafka.sh start      fetch the jars if missing, format the storage once, start the
#                               broker; prints the bootstrap servers once a client gets metadata
#   scripts/kafka.sh stop       graceful shutdown (SIGTERM), waiting up to 15 s for it to exit
#   scripts/kafka.sh restart    stop, then start on the same log dir: topics and messages survive
#   scripts/kafka.sh bootstrap  prints the bootstrap servers
# Ports 29092 (TP_KAFKA_PORT) and 29093 for the controller (TP_KAFKA_CONTROLLER_PORT); the
# cluster id, data (data/), server.properties and server.log in var/services/kafka (TP_KAFKA_DIR).
# That folder is formatted for its controller port: to change the port, remove the folder.
# Readiness is checked with confluent-kafka from .venv (TP_KAFKA_PYTHON: another interpreter).
set -euo pipefail
# shellcheck source=scripts/apt.sh
. "$(dirname "$0")/apt.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
port=${TP_KAFKA_PORT:-29092}
controller_port=${TP_KAFKA_CONTROLLER_PORT:-29093}
state=${TP_KAFKA_DIR:-$root/var/services/kafka}
bootstrap="127.0.0.1:$port"
pom="$root/scripts/kafka/pom.xml"
log_config="$root/scripts/kafka/log4j2.properties"
cache="$root/.cache"
libs="$cache/kafka/libs"
conf="$state/server.properties"
python=${TP_KAFKA_PYTHON:-$root/.venv/bin/python}
# shellcheck source=scripts/daemon.sh
. "$root/scripts/daemon.sh"

install_if_missing() {
  if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
    apt_install "Java and Maven" default-jre-headless maven
  fi
}

# The broker's runtime jars, once per version of the pom: .complete holds the pom's hash.
fetch_libs() {
  local stamp
  stamp=$(sha256sum "$pom" | cut -d' ' -f1)
  [ "$(cat "$libs/.complete" 2>/dev/null)" = "$stamp" ] && return
  echo "Fetching the Kafka broker's jars from Maven Central into $libs ..." >&2
  mkdir -p "$cache/kafka"
  rm -rf "$libs" "$libs.partial"
  if ! mvn -q -B -f "$pom" -Dmaven.repo.local="$cache/m2" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs.partial" >"$cache/kafka/mvn.log" 2>&1; then
    tail -n 30 "$cache/kafka/mvn.log" >&2
    echo "Maven could not fetch the Kafka jars; see $cache/kafka/mvn.log" >&2
    exit 1
  fi
  echo "$stamp" >"$libs.partial/.complete"
  mv "$libs.partial" "$libs"
}

kafka_java() { java -Dlog4j2.configurationFile="$log_config" -cp "$libs/*" "$@"; }

write_config() {
  mkdir -p "$state/data"
  cat >"$conf" <<EOF
# Written by scripts/kafka.sh at each start: edit that script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$state/data
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# Consumers refuse events over 1 MiB into dead-letters; the broker carries up to 4 MiB so such a
# message reaches them (and its dead letter travels whole). tickerpulse/stores/events/wire.py
message.max.bytes=4194304
EOF
}

# Once per state folder: a cluster id, and the storage formatted with this node as the only voter.
format_once() {
  if [ -f "$state/data/meta.properties" ]; then
    local formatted
    formatted=$(cat "$state/controller-port" 2>/dev/null || echo "$controller_port")
    if [ "$formatted" != "$controller_port" ]; then
      echo "$state was formatted for controller port $formatted, not $controller_port:" \
        "remove that folder or set TP_KAFKA_DIR" >&2
      exit 1
    fi
    return
  fi
  [ -s "$state/cluster-id" ] || kafka_java kafka.tools.StorageTool random-uuid >"$state/cluster-id"
  kafka_java kafka.tools.StorageTool format --standalone -t "$(cat "$state/cluster-id")" -c "$conf" \
    >"$state/format.log" 2>&1 \
    || { echo "Formatting the Kafka storage failed; see $state/format.log" >&2; exit 1; }
  echo "$controller_port" >"$state/controller-port"
}

# Readiness for start_daemon: the port accepts connections, then a real client gets the
# cluster's metadata with a broker in it. Without confluent-kafka in .venv: the port accepts
# connections and the broker has logged that it started.
use_python=
kafka_ready() {
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || return 1
  if [ -z "$use_python" ]; then
    use_python=no
    if [ -x "$python" ] && "$python" -c "import confluent_kafka" 2>/dev/null; then use_python=yes; fi
  fi
  if [ "$use_python" = yes ]; then
    "$python" - "$bootstrap" <<'PY'
import sys
from confluent_kafka.admin import AdminClient
metadata = AdminClient({"bootstrap.servers": sys.argv[1]}).list_topics(timeout=2)
sys.exit(0 if metadata.brokers else 1)
PY
  else
    grep -q "Kafka Server started" "$state/server.log" 2>/dev/null
  fi
}

start() {
  if kafka_ready >/dev/null 2>&1; then echo "$bootstrap"; return; fi
  install_if_missing
  fetch_libs
  write_config
  format_once
  start_daemon "Kafka broker" "$state" cmd:kafka_ready 90 \
    java -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$log_config" -cp "$libs/*" kafka.Kafka "$conf"
  echo "$bootstrap"
}

stop() { stop_daemon "$state" 15; }

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  bootstrap) echo "$bootstrap" ;;
  *) echo "usage: $0 start|stop|restart|bootstrap" >&2; exit 2 ;;
esac
