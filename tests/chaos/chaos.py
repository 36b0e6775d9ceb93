#!/usr/bin/env python3
"""The chaos run (docs/chaos.md): a real `respawn serve` under heart, a load of batch and session
jobs from several users, and faults injected while it runs; then the history check
(history.py). Python 3 standard library only. scripts/chaos is the way to run it (it mounts the
small tmpfs the disk-full fault fills).

    chaos.py run --binary build/respawn --work DIR [--mount DIR] [--seconds 60] [--faults LIST]
    chaos.py client ...     one batch client (a process, so that the run can SIGKILL it)

Faults (--faults, comma-separated; "all" for every one):
  worker_kill  SIGKILL of a worker process of the node
  node_kill    SIGKILL of the node (heart starts it again; at most one every 20 s, heart gives up
               past 5 restarts in 60 s)
  client_kill  SIGKILL of a batch client process mid-request; its successor resumes the unanswered
               submissions from the client's journal, with the same idempotency keys
  node_stop    SIGSTOP of the node for 1-3 s, then SIGCONT
  disk_full    the tmpfs of the data directory filled up (dd) for 2 s, then emptied
  db_lock      another connection holds BEGIN IMMEDIATE on jobs.db for 6 s (past the node's 5 s
               busy timeout)

Prints a JSON summary and exits 1 if an invariant failed (the summary's `violations`).
"""
import argparse
import http.client
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import history  # noqa: E402

ALL_FAULTS = ["worker_kill", "node_kill", "client_kill", "node_stop", "disk_full", "db_lock"]
USERS = ["alice", "bob", "carol"]


def now_us():
    return time.time_ns() // 1000


def log(*args):
    print(f"chaos {time.strftime('%H:%M:%S')}:", *args, file=sys.stderr, flush=True)


# --- HTTP -------------------------------------------------------------------------------------

def request(port, method, path, token=None, body=None, headers=None, timeout=5.0):
    """One request on a fresh connection: (status, parsed JSON or text). Raises OSError (and
    http.client's errors) when the node does not answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        text = r.read().decode(errors="replace")
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text
    finally:
        conn.close()


RETRYABLE = (OSError, http.client.HTTPException)


def submit_until_acknowledged(port, token, body, key, give_up_at, stop=None):
    """POSTs a job with an Idempotency-Key until the node answers 200/201 (the same key names the
    same job, so every retry is safe), or until give_up_at. Returns (job id or None, status)."""
    delay = 0.05
    last = None
    while time.monotonic() < give_up_at:
        try:
            status, answer = request(port, "POST", "/v1/jobs", token, body, {"Idempotency-Key": key})
            last = status
            if status in (200, 201):
                return answer["id"], status
            if status not in (429, 503):
                return None, status  # refused for good (4xx): not acknowledged, not retried
        except RETRYABLE as e:
            last = type(e).__name__
        if stop is not None and stop():
            delay = min(delay, 0.2)
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
    return None, last


# --- processes ----------------------------------------------------------------------------------

def children_of(pid):
    """Child pids of `pid`, from /proc (any thread may have spawned them)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(entry))
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        return stat[stat.rfind(")") + 2] != "Z"
    except OSError:
        return False


# --- the batch client (its own process) ------------------------------------------------------

def job_body(rng):
    """A job of a builtin kind, and the final state it should reach."""
    k = rng.random()
    if k < 0.25:
        return {"kind": "noop", "timeout_ms": 10000}
    if k < 0.50:
        return {"kind": "sum", "args": {"n": rng.choice([10, 1000, 100000, 3000000])}, "timeout_ms": 10000}
    if k < 0.70:
        return {"kind": "fib", "args": {"n": rng.randint(15, 25)}, "timeout_ms": 10000}
    if k < 0.90:
        return {"kind": "sleep", "args": {"ms": rng.randint(20, 1500)}, "timeout_ms": 10000}
    return {"kind": "crash", "args": {"signal": "SEGV"}, "max_attempts": 2, "timeout_ms": 10000}


def read_journal(path):
    """The client's journal: intents (key -> body) in order, and acknowledgements (key -> [ids])."""
    intents, acks = {}, {}
    try:
        with open(path) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a line cut by SIGKILL: its request was never sent
                if rec.get("intent"):
                    intents[rec["key"]] = rec["body"]
                elif "id" in rec:
                    acks.setdefault(rec["key"], []).append(rec["id"])
    except FileNotFoundError:
        pass
    return intents, acks


def client_main(args):
    rng = random.Random(args.seed)
    stop_file = args.stop_file
    intents, acks = read_journal(args.journal)
    journal = open(args.journal, "a")

    def write(rec):
        journal.write(json.dumps(rec) + "\n")
        journal.flush()
        os.fsync(journal.fileno())

    # A client keeps at most `backlog_max` of its jobs unfinished, as a real one waiting on its
    # results would: the load then follows the node's pace instead of outrunning it (a queue that
    # only grows would leave jobs unfinished at the end for want of time, not for a fault).
    backlog = []
    backlog_max = 8

    def settle(key, body, patience):
        job_id, status = submit_until_acknowledged(args.port, args.token, body, key, time.monotonic() + patience)
        if job_id is not None:
            write({"key": key, "id": job_id, "status": status})
            backlog.append(job_id)

    def wait_for_backlog():
        while len(backlog) >= backlog_max and not os.path.exists(stop_file):
            try:
                status, answer = request(args.port, "GET", f"/v1/jobs/{backlog[0]}", args.token)
                if status != 200 or answer.get("state") in history.FINAL:
                    backlog.pop(0)
                    continue
            except RETRYABLE:
                pass
            time.sleep(0.1)

    # First the submissions a killed predecessor left unanswered: same key, same body.
    for key, body in intents.items():
        if key not in acks:
            settle(key, body, 60)
    n = len(intents)
    while not os.path.exists(stop_file):
        n += 1
        key = f"{args.name}-{n}"
        body = job_body(rng)
        write({"intent": True, "key": key, "body": body})  # durable before it is sent
        settle(key, body, 60)
        wait_for_backlog()
        time.sleep(rng.uniform(0.02, 0.15))
    return 0


# --- the run ----------------------------------------------------------------------------------

class run:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.port = a.port
        self.work = a.work
        self.data = os.path.join(a.mount or a.work, "data")
        self.faults = a.faults
        self.lock = threading.Lock()
        self.stop_load = threading.Event()
        self.stop_probe = threading.Event()
        self.injected = {f: 0 for f in self.faults}
        self.windows = {"node_down": [], "node_stopped": [], "disk_full": [], "db_lock": []}
        self.probes = []  # (time, ok)
        self.violations = []
        self.tokens = {}
        self.heart = None
        self.clients = {}  # name -> Popen
        self.client_restarts = 0
        self.sessions = []  # dicts: job_id, user, inputs_acked, end_seq
        self.node_restarts = 0

    # -- node ---------------------------------------------------------------------------------
    def node_pid(self):
        kids = [p for p in children_of(self.heart.pid) if alive(p)]
        return kids[0] if kids else None

    def wait_healthy(self, timeout, not_pid=None):
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            pid = self.node_pid()
            if pid and pid != not_pid:
                try:
                    if request(self.port, "GET", "/healthz", timeout=1.0)[0] == 200:
                        return pid
                except RETRYABLE:
                    pass
            time.sleep(0.05)
        return None

    def start_node(self):
        os.makedirs(self.data, exist_ok=True)
        for user in USERS:
            out = subprocess.run([self.a.binary, "user", "add", user, "--data-dir", self.data],
                                 check=True, capture_output=True, text=True)
            self.tokens[user] = out.stdout.strip().splitlines()[-1]
        help_text = subprocess.run([self.a.binary, "serve", "--help"], capture_output=True, text=True).stdout
        demo = ["--demo"] if "--demo" in help_text else []
        self.node_log = open(os.path.join(self.work, "node.log"), "w")
        self.heart = subprocess.Popen(
            [self.a.binary, "serve", "--data-dir", self.data, "--listen", f"127.0.0.1:{self.port}",
             "--workers", "4"] + demo,
            stdout=self.node_log, stderr=subprocess.STDOUT, start_new_session=True)
        if not self.wait_healthy(60):
            raise RuntimeError("the node did not answer /healthz within 60 s (see node.log)")
        log(f"node up under heart {self.heart.pid} on port {self.port}{' with --demo' if demo else ''}")

    # -- probes -------------------------------------------------------------------------------
    def probe_loop(self):
        while not self.stop_probe.is_set():
            t = time.monotonic()
            ok = False
            try:
                ok = request(self.port, "GET", "/healthz", timeout=1.0)[0] == 200
            except RETRYABLE:
                pass
            with self.lock:
                self.probes.append((t, ok))
            time.sleep(max(0.0, 0.1 - (time.monotonic() - t)))

    # -- load ---------------------------------------------------------------------------------
    def start_client(self, name, user):
        journal = os.path.join(self.work, f"client-{name}.jsonl")
        self.clients[name] = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "client", "--port", str(self.port), "--token",
             self.tokens[user], "--name", name, "--journal", journal, "--stop-file",
             os.path.join(self.work, "stop"), "--seed", str(self.rng.randrange(1 << 30))],
            stdout=subprocess.DEVNULL)

    def session_loop(self, user, index):
        token = self.tokens[user]
        n = 0
        while not self.stop_load.is_set():
            n += 1
            key = f"{user}-session-{index}-{n}"
            job_id, _ = submit_until_acknowledged(self.port, token, {"kind": "echo", "args": {"who": user}}, key,
                                                  time.monotonic() + 60)
            if job_id is None:
                continue
            s = {"job_id": job_id, "user": user, "key": key, "inputs_acked": [], "end_seq": None}
            with self.lock:
                self.sessions.append(s)
            done = threading.Event()
            streamer = threading.Thread(target=self.stream, args=(job_id, token, done), daemon=True)
            streamer.start()
            inputs = self.rng.randint(3, 8)
            for seq in range(1, inputs + 1):
                if self.input_until_acknowledged(job_id, token, {"seq": seq, "data": f"{user}:{n}:{seq}"}):
                    s["inputs_acked"].append(seq)
                time.sleep(self.rng.uniform(0.1, 0.6))
            if self.input_until_acknowledged(job_id, token, {"seq": inputs + 1, "end": True}):
                s["end_seq"] = inputs + 1
            done.wait(timeout=90)  # the stream saw the session end (or the run gives up on it)

    def input_until_acknowledged(self, job_id, token, body):
        until = time.monotonic() + 60
        delay = 0.05
        while time.monotonic() < until:
            try:
                status, answer = request(self.port, "POST", f"/v1/jobs/{job_id}/input", token, body)
                if status == 202:
                    return True
                if status not in (429, 503):
                    log(f"session {job_id}: input {body.get('seq')} refused: {status} {answer}")
                    return False
            except RETRYABLE:
                pass
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        return False

    def stream(self, job_id, token, done):
        """Streams the session's events (which is what runs it), resuming with Last-Event-ID after
        every drop, until its final event."""
        last_id = None
        give_up = time.monotonic() + self.a.seconds + 180
        while time.monotonic() < give_up:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                headers = {"Authorization": f"Bearer {token}"}
                if last_id:
                    headers["Last-Event-ID"] = last_id
                conn.request("GET", f"/v1/jobs/{job_id}/events", headers=headers)
                r = conn.getresponse()
                if r.status != 200:
                    r.read()
                    time.sleep(0.2)
                    continue
                event = None
                while True:
                    line = r.fp.readline()
                    if not line:
                        break
                    line = line.decode(errors="replace").rstrip("\r\n")
                    if line.startswith("id:"):
                        last_id = line[3:].strip()
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line == "" and event in history.FINAL:
                        done.set()
                        return
            except RETRYABLE:
                pass
            finally:
                conn.close()
            time.sleep(0.2)

    # -- faults -------------------------------------------------------------------------------
    def fault_loop(self, until):
        last_node_kill = -1e9
        time.sleep(min(3.0, max(0.0, until - time.monotonic())))
        while time.monotonic() < until:
            choices = list(self.faults)
            if time.monotonic() - last_node_kill < 20 and "node_kill" in choices:
                choices.remove("node_kill")
            if not choices:
                return
            fault = self.rng.choice(choices)
            try:
                getattr(self, f"fault_{fault}")()
                if fault == "node_kill":
                    last_node_kill = time.monotonic()
            except Exception as e:  # a fault that could not be injected is reported, not fatal
                log(f"fault {fault} failed: {e!r}")
            time.sleep(self.rng.uniform(1.5, 4.0))

    def count(self, fault):
        with self.lock:
            self.injected[fault] += 1

    def fault_worker_kill(self):
        node = self.node_pid()
        workers = [p for p in children_of(node) if alive(p)] if node else []
        if workers:
            os.kill(self.rng.choice(workers), signal.SIGKILL)
            self.count("worker_kill")

    def fault_node_kill(self):
        node = self.node_pid()
        if not node:
            return
        t0, w0 = time.monotonic(), now_us()
        os.kill(node, signal.SIGKILL)
        self.count("node_kill")
        up = self.wait_healthy(60, not_pid=node)
        self.windows["node_down"].append((t0, time.monotonic()))
        self.node_down_us.append((w0, now_us()))
        if up:
            self.node_restarts += 1
            log(f"node {node} killed; heart's new node {up} answered after {time.monotonic() - t0:.1f} s")
        else:
            self.violations.append(f"the node was SIGKILLed and no new node answered within 60 s "
                                   f"(heart {'exited ' + str(self.heart.poll()) if self.heart.poll() is not None else 'runs'})")

    def fault_client_kill(self):
        name = self.rng.choice(sorted(self.clients))
        p = self.clients[name]
        p.send_signal(signal.SIGKILL)
        p.wait()
        self.count("client_kill")
        self.client_restarts += 1
        self.start_client(name, name.split("-")[0])

    def fault_node_stop(self):
        node = self.node_pid()
        if not node:
            return
        hold = self.rng.uniform(1.0, 3.0)
        t0 = time.monotonic()
        os.kill(node, signal.SIGSTOP)
        self.count("node_stop")
        try:
            time.sleep(hold)
        finally:
            os.kill(node, signal.SIGCONT)
        self.windows["node_stopped"].append((t0, time.monotonic()))

    def fault_disk_full(self):
        fill = os.path.join(self.a.mount, "fill")
        t0 = time.monotonic()
        subprocess.run(["dd", "if=/dev/zero", f"of={fill}", "bs=1M", "status=none"], stderr=subprocess.DEVNULL)
        self.count("disk_full")
        time.sleep(2.0)
        os.unlink(fill)
        self.windows["disk_full"].append((t0, time.monotonic()))

    def fault_db_lock(self):
        db = sqlite3.connect(os.path.join(self.data, "jobs.db"), timeout=10, isolation_level=None)
        t0 = time.monotonic()
        try:
            db.execute("BEGIN IMMEDIATE")
            self.count("db_lock")
            time.sleep(6.0)
            db.execute("ROLLBACK")
        finally:
            db.close()
        self.windows["db_lock"].append((t0, time.monotonic()))

    # -- the end --------------------------------------------------------------------------------
    def wait_final(self, records, deadline):
        pending = {}
        for job in records["jobs"]:
            for job_id in set(job["acked_ids"]):
                pending[job_id] = self.tokens[job["user"]]
        while pending and time.monotonic() < deadline:
            for job_id, token in list(pending.items()):
                try:
                    status, answer = request(self.port, "GET", f"/v1/jobs/{job_id}", token)
                    if status == 200 and answer.get("state") in history.FINAL:
                        del pending[job_id]
                except RETRYABLE:
                    break
            if pending:
                time.sleep(0.5)
        return pending

    def healthz_gaps(self):
        """Stretches without a /healthz answer longer than the allowed gap, each said to be
        explained (during a SIGSTOP or a node's restart) or not."""
        explained, unexplained, longest = [], [], 0.0
        windows = self.windows["node_down"] + self.windows["node_stopped"]
        last_ok = None
        for t, ok in sorted(self.probes):
            if not ok:
                continue
            if last_ok is not None:
                gap = t - last_ok
                longest = max(longest, gap)
                if gap > self.a.healthz_gap_max:
                    inside = any(last_ok <= e + 1.5 and t >= s - 0.5 for s, e in windows)
                    (explained if inside else unexplained).append(round(gap, 2))
            last_ok = t
        return explained, unexplained, longest

    def go(self):
        self.node_down_us = []
        os.makedirs(self.work, exist_ok=True)
        stop_file = os.path.join(self.work, "stop")
        if os.path.exists(stop_file):
            os.unlink(stop_file)
        self.start_node()
        prober = threading.Thread(target=self.probe_loop, daemon=True)
        prober.start()
        for user in USERS:
            self.start_client(f"{user}-1", user)
        self.start_client("alice-2", "alice")
        sessions = [threading.Thread(target=self.session_loop, args=(u, i), daemon=True)
                    for i, u in enumerate(["alice", "bob"])]
        for t in sessions:
            t.start()
        started = time.monotonic()
        log(f"load and faults for {self.a.seconds} s: {','.join(self.faults) or 'no faults'}")
        self.fault_loop(started + self.a.seconds)
        while time.monotonic() < started + self.a.seconds:
            time.sleep(0.1)

        log("stopping the load; waiting for every acknowledged job to end")
        self.stop_load.set()
        open(stop_file, "w").close()
        for name, p in self.clients.items():
            try:
                p.wait(timeout=90)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                self.violations.append(f"client {name} did not finish its last submission within 90 s")
        for t in sessions:
            t.join(timeout=120)
        records = self.records()
        unfinished = self.wait_final(records, time.monotonic() + self.a.drain)
        self.stop_probe.set()
        prober.join()
        heart_gone = self.heart.poll()
        if heart_gone is not None:
            self.violations.append(f"heart exited ({heart_gone}) during the run: the service went down for good")
        else:
            self.heart.send_signal(signal.SIGTERM)
            try:
                self.heart.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.violations.append("the node did not stop within 60 s of SIGTERM")
        self.kill_everything()

        with open(os.path.join(self.work, "records.json"), "w") as f:
            json.dump(records, f)
        findings, violations = history.check(os.path.join(self.data, "jobs.db"), records)
        explained, unexplained, longest = self.healthz_gaps()
        for gap in unexplained:
            self.violations.append(f"/healthz did not answer for {gap} s while the node was neither stopped nor "
                                   f"restarting")
        submitted = sum(len(read_journal(os.path.join(self.work, f"client-{n}.jsonl"))[0]) for n in self.clients)
        summary = {
            "seconds": self.a.seconds,
            "seed": self.a.seed,
            "faults_enabled": self.faults,
            "faults_injected": self.injected,
            "node_restarts": self.node_restarts,
            "client_restarts": self.client_restarts,
            "jobs": {
                "submitted": submitted + len(self.sessions),
                "acknowledged": findings["jobs_acknowledged"],
                "final": findings["jobs_final"],
                "final_by_state": findings["final_by_state"],
                "lost": findings["lost"],
                "doubled": findings["doubled"],
                "unfinished": findings["unfinished"],
                "final_more_than_once": findings["final_more_than_once"],
                "still_unfinished_at_drain": len(unfinished),
            },
            "attempts": {
                "overlapping": findings["overlapping_attempts"],
                "interrupted": findings["interrupted_attempts"],
                "interrupted_while_node_alive": findings["interrupted_while_node_alive"],
            },
            "sessions": {
                "jobs": findings["sessions"],
                "inputs_acknowledged": findings["session_inputs_acknowledged"],
                "inputs_answered_once": findings["session_inputs_answered_once"],
                "inputs_unanswered": findings["session_inputs_unanswered"],
                "inputs_answered_twice": findings["session_inputs_answered_twice"],
            },
            "healthz": {
                "probes": len(self.probes),
                "failed": sum(1 for _, ok in self.probes if not ok),
                "longest_gap_s": round(longest, 2),
                "gaps_explained_s": explained,
                "gaps_unexplained_s": unexplained,
            },
        }
        everything = self.violations + violations
        summary["ok"] = not everything
        summary["violations_total"] = len(everything)
        # The first ones say what broke; the whole list is in violations.json.
        summary["violations"] = everything[:40] + ([f"... and {len(everything) - 40} more (violations.json)"]
                                                   if len(everything) > 40 else [])
        with open(os.path.join(self.work, "violations.json"), "w") as f:
            json.dump(everything, f, indent=1)
        return summary

    def records(self):
        jobs = []
        for name in self.clients:
            intents, acks = read_journal(os.path.join(self.work, f"client-{name}.jsonl"))
            user = name.split("-")[0]
            for key, body in intents.items():
                jobs.append({"key": key, "user": user, "kind": body["kind"], "acked_ids": acks.get(key, [])})
        with self.lock:
            sessions = [dict(s) for s in self.sessions]
        for s in sessions:  # the session jobs are acknowledged jobs too
            jobs.append({"key": s["key"], "user": s["user"], "kind": "echo", "acked_ids": [s["job_id"]]})
        return {"jobs": jobs, "sessions": sessions, "node_down": self.node_down_us}

    def kill_everything(self):
        """Stops what this run started, by pid: the clients, and heart's process group (heart, the
        node, its workers)."""
        for p in self.clients.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        if self.heart is not None:
            try:
                os.killpg(self.heart.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.heart.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--binary", required=True)
    r.add_argument("--work", required=True, help="the run's folder: logs, client journals, records.json")
    r.add_argument("--mount", default="", help="a small tmpfs for the data directory (disk_full fills it)")
    r.add_argument("--seconds", type=float, default=60)
    r.add_argument("--faults", default="all")
    r.add_argument("--seed", type=int, default=None)
    r.add_argument("--port", type=int, default=0)
    r.add_argument("--drain", type=float, default=120, help="seconds for acknowledged jobs to end after the load")
    r.add_argument("--healthz-gap-max", type=float, default=2.0)
    c = sub.add_parser("client")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--token", required=True)
    c.add_argument("--name", required=True)
    c.add_argument("--journal", required=True)
    c.add_argument("--stop-file", required=True)
    c.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()
    if a.command == "client":
        return client_main(a)

    a.faults = ALL_FAULTS if a.faults == "all" else [f for f in a.faults.split(",") if f]
    unknown = [f for f in a.faults if f not in ALL_FAULTS]
    if unknown:
        parser.error(f"unknown faults {unknown} (known: {', '.join(ALL_FAULTS)})")
    if "disk_full" in a.faults and not a.mount:
        log("no tmpfs (--mount): the disk_full fault is left out")
        a.faults = [f for f in a.faults if f != "disk_full"]
    if a.seed is None:
        a.seed = random.randrange(1 << 30)
    if a.port == 0:
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            a.port = s.getsockname()[1]
    log(f"seed {a.seed} (--seed {a.seed} repeats the run's choices)")
    the_run = run(a)
    try:
        summary = the_run.go()
    except BaseException:
        the_run.kill_everything()
        raise
    print(json.dumps(summary, indent=2))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
