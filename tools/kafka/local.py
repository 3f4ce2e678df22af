#!/usr/bin/env python3
"""Local single-node Apache Kafka (KRaft, combined broker+controller) from Maven Central jars.

    python tools/kafka/local.py up       # assemble jars (once), format, start, wait until it answers
    python tools/kafka/local.py status   # exit 0 if a broker answers on the port, 1 otherwise
    python tools/kafka/local.py down     # stop what `up` started (SIGTERM, 30 s, SIGKILL)

Environment: KAFKA_PORT (default 9092), KAFKA_CONTROLLER_PORT (default: a free port), MVN (default mvn),
JAVA_HOME (default: java on PATH), KAFKA_READY_TIMEOUT (default 120 s),
KAFKA_JVM_OPTS (extra broker JVM flags, appended).

Layout (all git-ignored, under the repo's .cache/kafka/):
    <version>/lib/   the broker classpath, copied by maven-dependency-plugin from tools/kafka/pom.xml
    run-<port>/      server.properties, log4j2.properties, broker.log, broker.pid, data/ (fresh per start)

Only stdlib + confluent_kafka (the readiness probe lives in tests/kafka_broker.py, imported by path).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
POM = HERE / "pom.xml"
CACHE = ROOT / ".cache" / "kafka"
DEP_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
NODE_ID = 1
STOP_WAIT_S = 30.0

# JVM flags of kafka-run-class.sh (4.1), with a small heap instead of the script's 1 GiB, plus C1 only
# (-XX:TieredStopAtLevel=1): on 2 cores it cut broker start-up by ~0.7 s and RSS by ~30 MiB, and a
# confluent_kafka producer/consumer loop was no slower against it (the Python client is the bottleneck).
# KAFKA_JVM_OPTS is appended, so e.g. KAFKA_JVM_OPTS=-XX:TieredStopAtLevel=4 restores C2 for benchmarks.
BROKER_JVM = [
    "-Xms128m",
    "-Xmx512m",
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]
# the format step is a short-lived JVM: C1 only and serial GC start faster and burn less CPU
TOOL_JVM = ["-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djava.awt.headless=true"]


def _load_probe() -> Any:
    spec = importlib.util.spec_from_file_location("kafka_broker", ROOT / "tests" / "kafka_broker.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


kb = _load_probe()


def log(msg: str) -> None:
    print(f"[kafka-local] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------- jars


def kafka_version() -> str:
    m = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", POM.read_text())
    if not m:
        raise SystemExit(f"no <kafka.version> in {POM}")
    return m.group(1)


def lib_dir() -> Path:
    return CACHE / kafka_version() / "lib"


def ensure_jars() -> Path:
    """Copy the broker's runtime classpath into .cache/kafka/<version>/lib (skipped if already there)."""
    lib = lib_dir()
    stamp = hashlib.sha256(POM.read_bytes()).hexdigest()
    marker = lib / ".assembled"
    if marker.is_file() and marker.read_text().strip() == stamp:
        return lib
    mvn = os.environ.get("MVN") or shutil.which("mvn")
    if not mvn:
        raise SystemExit("mvn not found (install Maven, or set MVN=/path/to/mvn)")
    tmp = lib.parent / f"lib.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    log(f"assembling Kafka {kafka_version()} jars from Maven Central into {lib} ...")
    t0 = time.monotonic()
    cmd = [
        mvn, "-B", "-q", "-f", str(POM),
        f"{DEP_PLUGIN}:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={tmp}",
    ]  # fmt: skip
    res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        sys.stderr.write(res.stdout[-6000:] + res.stderr[-6000:])
        raise SystemExit(f"maven failed (exit {res.returncode}): {' '.join(cmd)}")
    jars = sorted(p.name for p in tmp.glob("*.jar"))
    problems = []
    for prefix in ("kafka_2.13-", "kafka-clients-", "kafka-server-", "scala-library-", "log4j-core-"):
        if not any(j.startswith(prefix) for j in jars):
            problems.append(f"missing {prefix}*.jar")
    slf4j = [j for j in jars if j.startswith("slf4j-api-")]
    binding = [j for j in jars if j.startswith(("log4j-slf4j-impl-", "log4j-slf4j2-impl-"))]
    if len(slf4j) != 1 or len(binding) != 1:
        problems.append(f"need exactly one slf4j-api and one binding, got {slf4j + binding}")
    if problems:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SystemExit("bad classpath: " + "; ".join(problems))
    (tmp / ".assembled").write_text(stamp + "\n")
    shutil.rmtree(lib, ignore_errors=True)
    tmp.rename(lib)
    log(f"{len(jars)} jars assembled in {time.monotonic() - t0:.1f}s")
    return lib


# --------------------------------------------------------------------------------------- processes


def run_dir(port: int) -> Path:
    return CACHE / f"run-{port}"


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead


def our_broker_pid(port: int) -> int | None:
    """The pid from run-<port>/broker.pid if that process is alive and is our kafka.Kafka for that dir."""
    pidfile = run_dir(port) / "broker.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    props = str(run_dir(port) / "server.properties").encode()
    if not pid_alive(pid) or b"kafka.Kafka" not in cmdline or props not in cmdline:
        return None  # stale pid file (pid gone or reused by something else)
    return pid


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def tcp_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_cluster_id() -> str:
    # same text form as org.apache.kafka.common.Uuid.toString(); an id starting with '-' would be
    # taken for an option by the CLI parser, Kafka's own randomUuid() re-rolls those too
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def java_bin() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java") or "java"


def tail(path: Path, lines: int = 60) -> str:
    """The first ERROR lines (with the line after each: often the cause) and the last ``lines`` lines."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no {path})"
    errs = [i for i, line in enumerate(text) if " ERROR " in line or " FATAL " in line][:5]
    head = [text[j] for i in errs for j in (i, i + 1) if j < len(text)]
    first = ["--- first errors ---", *head, "--- last lines ---"] if head else []
    return "\n".join(first + text[-lines:])


@contextlib.contextmanager
def locked(port: int) -> Any:
    """Serialise concurrent up/down for one port."""
    d = run_dir(port)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


# ------------------------------------------------------------------------------------------- config


def server_properties(port: int, cport: int, data: Path) -> str:
    return f"""\
# written by tools/kafka/local.py: single combined broker+controller, KRaft, static voter set
process.roles=broker,controller
node.id={NODE_ID}
controller.quorum.voters={NODE_ID}@127.0.0.1:{cport}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data}
# auto.create.topics.enable is left at its default (true)
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.cleaner.dedupe.buffer.size=33554432
"""


LOG4J2 = """\
status = warn
# log4j's own shutdown hook would stop logging in the middle of Kafka's shutdown hook
shutdownHook = disable
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.req.name = kafka.request.logger
logger.req.level = WARN
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


# --------------------------------------------------------------------------------------- subcommands


def cmd_up(port: int) -> int:
    bs = f"127.0.0.1:{port}"
    timeout = float(os.environ.get("KAFKA_READY_TIMEOUT") or 120)
    t_start = time.monotonic()
    with locked(port):
        pid = our_broker_pid(port)
        if pid is not None:
            log(f"broker already started (pid {pid}); waiting for it on {bs}")
            try:
                kb.wait_ready(bs, timeout=timeout, broker_id=NODE_ID)
            except TimeoutError as exc:
                log(f"{exc}\n--- {run_dir(port) / 'broker.log'} (tail) ---")
                print(tail(run_dir(port) / "broker.log"), file=sys.stderr)
                return 1
            log(f"reusing Kafka on {bs} (pid {pid})")
            return 0
        if tcp_open(port):
            if kb.probe(bs, timeout=5.0) is not None:
                log(f"a Kafka broker already answers on {bs}; reusing it (not started by us)")
                return 0
            log(f"port {port} is taken by something that does not answer Kafka Metadata requests")
            return 1

        lib = ensure_jars()
        rd = run_dir(port)
        data = rd / "data"
        shutil.rmtree(data, ignore_errors=True)  # fresh data dir per start
        (rd / "broker.pid").unlink(missing_ok=True)
        cport = int(os.environ.get("KAFKA_CONTROLLER_PORT") or free_port())
        props, log4j = rd / "server.properties", rd / "log4j2.properties"
        props.write_text(server_properties(port, cport, data))
        log4j.write_text(LOG4J2)
        java = java_bin()
        cp = f"{lib}/*"  # the JVM expands the wildcard
        common = [f"-Dlog4j2.configurationFile={log4j}", "-cp", cp]

        t0 = time.monotonic()
        fmt = [java, *TOOL_JVM, *common, "kafka.tools.StorageTool", "format",
               "-t", new_cluster_id(), "-c", str(props), "--ignore-formatted"]  # fmt: skip
        res = subprocess.run(fmt, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180)
        if res.returncode != 0:
            sys.stderr.write(res.stdout[-4000:] + res.stderr[-4000:])
            log(f"formatting {data} failed (exit {res.returncode})")
            return 1
        t_fmt = time.monotonic() - t0

        return _launch(port, rd, common, t_start, f"format {t_fmt:.1f}s, ", f" (controller 127.0.0.1:{cport})")


def _launch(port: int, rd: Path, common: list[str], t_start: float, note: str = "", where: str = "") -> int:
    """Start the broker JVM on an existing, formatted data dir and wait until it answers."""
    bs = f"127.0.0.1:{port}"
    timeout = float(os.environ.get("KAFKA_READY_TIMEOUT") or 120)
    java = java_bin()
    props = rd / "server.properties"
    blog = rd / "broker.log"
    extra = os.environ.get("KAFKA_JVM_OPTS", "").split()
    cmd = [java, *BROKER_JVM, *extra, *common, "kafka.Kafka", str(props)]
    with open(blog, "ab") as out:
        proc = subprocess.Popen(
            cmd, cwd=rd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # own session: survives make and Ctrl-C in the terminal that ran `up`
        )  # fmt: skip
    (rd / "broker.pid").write_text(f"{proc.pid}\n")
    t1 = time.monotonic()
    try:
        kb.wait_ready(bs, timeout=timeout, proc=proc, broker_id=NODE_ID)
    except (TimeoutError, RuntimeError) as exc:
        log(f"{exc}\n--- {blog} (tail) ---")
        print(tail(blog), file=sys.stderr)
        if proc.poll() is None:
            _stop(proc.pid)
        (rd / "broker.pid").unlink(missing_ok=True)
        return 1
    t_ready = time.monotonic()
    proc.returncode = 0  # detached on purpose: keep Popen.__del__ from warning about a live child
    log(
        f"Kafka {kafka_version()} up on {bs}{where}, pid {proc.pid}; "
        f"{note}broker {t_ready - t1:.1f}s, total {t_ready - t_start:.1f}s; log {blog}"
    )
    return 0


def cmd_restart(port: int) -> int:
    """Stop the broker started by `up` and start it again on the same data (a broker restart, nothing lost)."""
    t_start = time.monotonic()
    with locked(port):
        rd = run_dir(port)
        pid = our_broker_pid(port)
        if pid is None or not (rd / "server.properties").exists():
            log(f"no broker started by us on port {port}; use `up`")
            return 1
        _stop(pid)
        _wait_reaped(pid)
        common = [f"-Dlog4j2.configurationFile={rd / 'log4j2.properties'}", "-cp", f"{lib_dir()}/*"]
        return _launch(port, rd, common, t_start, "restart, ")


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)  # runs Kafka's shutdown hook
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_WAIT_S
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    log(f"pid {pid} still alive after {STOP_WAIT_S:.0f}s; SIGKILL")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        if not pid_alive(pid):
            break
        time.sleep(0.05)


def _wait_reaped(pid: int, timeout: float = 5.0) -> None:
    """A detached broker is re-parented to PID 1, which reaps it only after a while; wait for that so
    that `pgrep java` right after `down` is empty. Harmless if it takes longer: a zombie holds nothing."""
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def cmd_down(port: int) -> int:
    with locked(port):
        pidfile = run_dir(port) / "broker.pid"
        pid = our_broker_pid(port)
        if pid is None:
            pidfile.unlink(missing_ok=True)
            log(f"nothing started by us on port {port}")
            return 0
        t0 = time.monotonic()
        _stop(pid)
        pidfile.unlink(missing_ok=True)
        _wait_reaped(pid)
        log(f"stopped Kafka pid {pid} in {time.monotonic() - t0:.1f}s")
        return 0


def cmd_status(port: int) -> int:
    bs = f"127.0.0.1:{port}"
    pid = our_broker_pid(port)
    md = kb.probe(bs, timeout=2.0)
    owner = f"pid {pid}" if pid is not None else "not started by us"
    if md is None:
        log(f"no broker answers on {bs} ({owner})")
        return 1
    rss = rss_mib(pid) if pid is not None else None
    extra = f", RSS {rss:.0f} MiB" if rss is not None else ""
    log(f"Kafka answers on {bs}: brokers {sorted(md.brokers)}, {len(md.topics)} topics ({owner}{extra})")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["up", "down", "status", "restart"])
    ap.add_argument("--port", type=int, default=None, help="broker port (default: $KAFKA_PORT or 9092)")
    args = ap.parse_args(argv)
    port = args.port or kb.port()
    return {"up": cmd_up, "down": cmd_down, "status": cmd_status, "restart": cmd_restart}[args.command](port)


if __name__ == "__main__":
    sys.exit(main())
