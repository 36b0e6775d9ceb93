#!/usr/bin/env python3
"""The soak run (docs/soak.md): a compressed working day on a real `respawn serve` under heart.
Five users with personas (bursts and idle gaps, long sleeps, a hog, sessions), quiet periods in
which nobody submits, node SIGKILLs at a fixed rate; then chaos's history check plus the figures
issue 13 is about: noop latency while a worker is free, session answer time while attached,
attempts burned per node kill, heartbeat kills, workers ever running. Python 3 stdlib only;
scripts/soak is the way to run it.

    soak.py --binary build/respawn --work build/soak --seconds 600 [--seed N] [--kill-every 120]

Every latency is taken from the node's own event times (jobs.db, read after the node stopped),
never from this client's threads: a slow Python thread cannot make a false alarm. Prints a JSON
summary (also written to WORK/summary.json) and exits 1 if an invariant failed.
"""
import argparse
import http.client
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "chaos"))
import history  # noqa: E402
from chaos import RETRYABLE, alive, children_of, request, submit_until_acknowledged  # noqa: E402

# --- the load's shape -------------------------------------------------------------------------

WORKERS = 4               # `serve --workers`: the capacity the invariants are measured against
HEARTBEAT_TIMEOUT_S = 5   # the worker heartbeat timeout (worker_pool.hpp); idle gaps exceed it
QUIET_S = 7.0             # a quiet period: nobody submits, every worker idle past the timeout
USER_IDLE_S = (5.5, 8.0)  # a user's own idle gap (others may go on)
FIRST_AFTER_IDLE_MS = (1200, 3000)  # the first job after an idle gap: a sleep that reports nothing
SHORT_SLEEP_MS = (100, 400)
LONG_SLEEP_MS = (9000, 20000)       # fewer of them at once than workers (LONG_AT_ONCE)
LONG_AT_ONCE = 2
HOG_TIMEOUT_MS = 2000     # the hog's loops end at their deadline
HOG_CANCELLED_TIMEOUT_MS = 15000    # ... or are cancelled (every third loop) before it
KILL_AT_S = 8.0           # a node kill comes this long into its load phase, long sleeps running
PRE_KILL_BURST = 8        # noops submitted 1.5 s before a kill: a fair node has run them by then
DRAIN_CAP_S = 20.0        # before a quiet period, how long to wait for batch jobs to end

# --- the invariants' bounds (each generous: they catch the issue-13 bugs, not machine noise) ---

# A noop submitted while at least one worker was free (fewer non-noop batch jobs unfinished than
# WORKERS) has nothing to wait for but the log's commits. On 0aee9dc such noops waited behind
# 9-20 s sleeps inside a busy worker's pipe.
NOOP_FREE_P99_MAX_S = 2.0
NOOP_FREE_MAX_S = 5.0
# A session input logged while a client streams the session is answered within this, and before
# the stream ends (0aee9dc: answers queued behind batch jobs, for tens of seconds).
SESSION_ANSWER_MAX_S = 5.0
# Inputs logged while detached are answered within this of the resume.
SESSION_RESUME_ANSWER_MAX_S = 5.0
# "stopped answering heartbeats" errors in the log: a healthy worker killed after a quiet spell.
HEARTBEAT_KILLS_MAX = 0
# Attempts a node kill burns of tasks that never started (see kill_findings): a kill may cost an
# attempt only of a task that was running.
NEVER_STARTED_BURNED_MAX = 0
# An interrupted attempt claimed longer than this before the kill was not a task just finishing.
STALE_CLAIM_S = 1.0
# How long after a node kill (from the SIGKILL to the new node's /readyz, plus this) latencies are
# not judged: the kill's own cost is judged per kill instead.
KILL_GRACE_S = 3.0
# A cancelled hog (a `loop` that never looks at cancelled()) ends within this of the cancel.
HOG_CANCEL_MAX_S = 10.0

USERS = ["ann", "ben", "cat", "dan", "eve"]
PERSONAS = {
    "ann": "bursty: bursts of 3-10 noops and short sleeps, idle gaps past the heartbeat timeout",
    "ben": "long: sleeps of 9-20 s (at most 2 at once) at the start of each load phase, noops between",
    "cat": "hog: `loop` jobs ended by a 2 s deadline, every third cancelled instead; noops between",
    "dan": "sessions: two echo sessions at a time, attached, detached, resumed with Last-Event-ID",
    "eve": "light: 1-3 noops, gaps of 2-8 s",
}


def now_us():
    return time.time_ns() // 1000


def log(*args):
    print(f"soak {time.strftime('%H:%M:%S')}:", *args, file=sys.stderr, flush=True)


def quantiles(values):
    """count, p50, p99, max (nearest rank), in seconds rounded to ms."""
    if not values:
        return {"count": 0, "p50": None, "p99": None, "max": None}
    v = sorted(values)

    def rank(q):
        return v[min(len(v) - 1, max(0, int(q * len(v) + 0.999999) - 1))]
    return {"count": len(v), "p50": round(rank(0.50), 3), "p99": round(rank(0.99), 3), "max": round(v[-1], 3)}


# --- an event stream (SSE), attached until closed -----------------------------------------------

class stream:
    """Streams a job's events in a thread, resuming with Last-Event-ID after a drop (a node kill),
    until close() (a deliberate detach) or the job's final event. Records every event and any gap
    or repeat in the ids."""

    def __init__(self, port, token, job_id, last_id=0):
        self.port, self.token, self.job_id = port, token, job_id
        self.last_id = last_id
        self.events = []  # (id, event, data)
        self.gaps = []
        self.cond = threading.Condition()
        self.closed = False
        self.final = False
        self.sock = None
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.closed and not self.final:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                headers = {"Authorization": f"Bearer {self.token}"}
                if self.last_id:
                    headers["Last-Event-ID"] = str(self.last_id)
                conn.request("GET", f"/v1/jobs/{self.job_id}/events", headers=headers)
                with self.cond:
                    # Kept: http.client forgets a Connection: close response's socket.
                    self.sock = conn.sock
                    if self.closed:
                        return
                r = conn.getresponse()
                if r.status != 200:
                    r.read()
                    time.sleep(0.2)
                    continue
                event_id, event, data = None, None, ""
                while True:
                    line = r.fp.readline()
                    if not line:
                        break
                    line = line.decode(errors="replace").rstrip("\r\n")
                    if line.startswith("id:"):
                        event_id = int(line[3:].strip())
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data = line[5:].strip()
                    elif line == "" and event_id is not None:
                        self.record(event_id, event, data)
                        event_id, event, data = None, None, ""
            except RETRYABLE:
                pass
            except ValueError:
                pass  # a connection shut down under the reader
            finally:
                conn.close()
            if not self.closed and not self.final:
                time.sleep(0.1)

    def record(self, event_id, event, data):
        with self.cond:
            if event_id != self.last_id + 1:
                self.gaps.append((self.last_id, event_id))
            self.last_id = max(self.last_id, event_id)
            try:
                data = json.loads(data)
            except ValueError:
                pass
            self.events.append((event_id, event, data))
            if event in history.FINAL:
                self.final = True
            self.cond.notify_all()

    def wait_for(self, predicate, timeout):
        """Waits until predicate(events) holds; returns whether it did."""
        until = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.events):
                left = until - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.5))
            return True

    def close(self):
        """Detaches: the connection is shut down, so the node sees the client go at once."""
        with self.cond:
            self.closed = True
            sock = self.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(timeout=5)


def answered(seq):
    return lambda events: any(e == "output" and isinstance(d, dict) and isinstance(d.get("chunk"), dict)
                              and d["chunk"].get("seq") == seq for _, e, d in events)


def running(events):
    return any(e in ("running", "resumed") for _, e, _ in events)


# --- the run ------------------------------------------------------------------------------------

class soak:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.port = a.port
        self.work = a.work
        self.data = os.path.join(a.work, "data")
        self.lock = threading.Lock()
        self.tokens = {}
        self.heart = None
        self.jobs = []      # records for history.check: key, user, kind, acked_ids; plus body, role
        self.sessions = []  # job_id, user, key, inputs_acked, end_seq, attached_seqs, detached_seqs
        self.kills = []     # per kill: times, workers at the kill
        self.node_down_us = []
        self.worker_samples = []  # (time_us, workers)
        self.stream_gaps = []
        self.hog_cancels = []     # job ids cancelled
        self.violations = []
        self.done = threading.Event()
        # The phase clock: load phases with quiet periods between (see plan()).
        self.phase = "setup"
        self.phase_index = -1
        self.phase_ends = 0.0
        self.phase_changed = threading.Condition(self.lock)

    # -- the node ------------------------------------------------------------------------------
    def node_pid(self):
        kids = [p for p in children_of(self.heart.pid) if alive(p)] if self.heart else []
        return kids[0] if kids else None

    def wait_ready(self, timeout, not_pid=None):
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            pid = self.node_pid()
            if pid and pid != not_pid:
                try:
                    if request(self.port, "GET", "/readyz", timeout=1.0)[0] == 200:
                        return pid
                except RETRYABLE:
                    pass
            time.sleep(0.02)
        return None

    def start_node(self):
        os.makedirs(self.data, exist_ok=True)
        for user in USERS:
            out = subprocess.run([self.a.binary, "user", "add", user, "--data-dir", self.data],
                                 check=True, capture_output=True, text=True)
            self.tokens[user] = out.stdout.strip().splitlines()[-1]
        self.node_log = open(os.path.join(self.work, "node.log"), "w")
        self.heart = subprocess.Popen(
            [self.a.binary, "serve", "--data-dir", self.data, "--listen", f"127.0.0.1:{self.port}",
             "--workers", str(WORKERS), "--demo"],
            stdout=self.node_log, stderr=subprocess.STDOUT, start_new_session=True)
        if not self.wait_ready(60):
            raise RuntimeError("the node did not answer /readyz within 60 s (see node.log)")
        log(f"node up under heart {self.heart.pid} on port {self.port}")

    def sample_workers(self):
        while not self.done.is_set():
            node = self.node_pid()
            n = len([p for p in children_of(node) if alive(p)]) if node else 0
            with self.lock:
                self.worker_samples.append((now_us(), n))
            time.sleep(0.2)

    # -- the phase clock -----------------------------------------------------------------------
    def plan(self):
        """Load phases of equal length with a quiet period between each two; kills at a fixed rate,
        each KILL_AT_S into a load phase other than the first (a node kill after the first quiet
        period in the bounded run)."""
        seconds = self.a.seconds
        n = max(2, round(seconds / 40))
        load = max(15.0, (seconds - (n - 1) * QUIET_S) / n)
        kills = self.a.kills if self.a.kills is not None else max(1, int(seconds // self.a.kill_every))
        kills = min(kills, n - 1)
        kill_phases = sorted({1 + round(i * (n - 1) / kills) for i in range(kills)}) if kills else []
        kill_phases = [min(p, n - 1) for p in kill_phases]
        return n, load, kill_phases

    def set_phase(self, phase, index, ends):
        with self.phase_changed:
            self.phase, self.phase_index, self.phase_ends = phase, index, ends
            self.phase_changed.notify_all()

    def wait_load(self, after_index):
        """Blocks until a load phase later than after_index starts; returns its index, or None once
        the run ends."""
        with self.phase_changed:
            while not (self.phase == "load" and self.phase_index > after_index):
                if self.phase == "end":
                    return None
                self.phase_changed.wait(0.5)
            return self.phase_index

    def left(self, index):
        """Seconds left in load phase `index` (0 once it is over)."""
        with self.lock:
            if self.phase != "load" or self.phase_index != index:
                return 0.0
            return max(0.0, self.phase_ends - time.monotonic())

    def unfinished_batch(self):
        """Batch jobs of every user not yet final, by the node's lists (sessions left out)."""
        n = 0
        for user, token in self.tokens.items():
            for state in ("queued", "running", "failed"):
                try:
                    status, answer = request(self.port, "GET", f"/v1/jobs?state={state}&limit=1000", token)
                except RETRYABLE:
                    return None
                if status != 200:
                    return None
                n += sum(1 for j in answer.get("jobs", []) if j.get("kind") != "echo")
        return n

    def conduct(self):
        n, load, kill_phases = self.plan()
        self.t0_us = now_us()
        self.planned = {"load_phases": n, "load_phase_s": round(load, 1), "quiet_s": QUIET_S,
                        "kill_phases": kill_phases}
        log(f"{n} load phases of {load:.1f} s, quiet periods of {QUIET_S} s between; node kills in "
            f"phases {kill_phases} at {KILL_AT_S} s")
        for i in range(n):
            start = time.monotonic()
            self.set_phase("load", i, start + load)
            if i in kill_phases:
                self.kill_in_phase(start)
            while time.monotonic() < start + load:
                time.sleep(0.1)
            if i == n - 1:
                break
            # A quiet period: the users stop; once every batch job has ended (or DRAIN_CAP_S), nobody
            # submits for QUIET_S, so that every worker sits idle past the heartbeat timeout.
            self.set_phase("drain", i, 0)
            until = time.monotonic() + DRAIN_CAP_S
            while time.monotonic() < until and self.unfinished_batch() != 0:
                time.sleep(0.25)
            time.sleep(1.0)  # the users' last requests in hand
            self.set_phase("quiet", i, 0)
            time.sleep(QUIET_S)
        self.set_phase("end", n, 0)

    # -- submitting ----------------------------------------------------------------------------
    def submit(self, user, body, role):
        with self.lock:
            key = f"{user}-{len(self.jobs) + 1}"
            rec = {"key": key, "user": user, "kind": body["kind"], "acked_ids": [], "body": body, "role": role}
            self.jobs.append(rec)
        job_id, _ = submit_until_acknowledged(self.port, self.tokens[user], body, key, time.monotonic() + 60)
        if job_id is not None:
            rec["acked_ids"].append(job_id)
        return job_id, key

    def first_after_idle(self, user, rng):
        ms = rng.randint(*FIRST_AFTER_IDLE_MS)
        return self.submit(user, {"kind": "sleep", "args": {"ms": ms}, "max_attempts": 1}, "first_after_idle")

    def noop(self, user):
        return self.submit(user, {"kind": "noop"}, "noop")

    def short_sleep(self, user, rng):
        return self.submit(user, {"kind": "sleep", "args": {"ms": rng.randint(*SHORT_SLEEP_MS)}}, "short_sleep")

    # -- the personas --------------------------------------------------------------------------
    def ann(self, rng):
        """Bursty: bursts of 3-10 noops and short sleeps; idle gaps past the heartbeat timeout."""
        index = -1
        while (index := self.wait_load(index)) is not None:
            after_idle = True  # the phase follows a quiet period (or the node's start)
            while self.left(index) > 1.0:
                if after_idle:
                    self.first_after_idle("ann", rng)
                    after_idle = False
                for _ in range(rng.randint(3, 10)):
                    if not self.left(index):
                        break  # the phase is over: a quiet period must stay quiet
                    if rng.random() < 0.7:
                        self.noop("ann")
                    else:
                        self.short_sleep("ann", rng)
                    time.sleep(rng.uniform(0.0, 0.3))
                if rng.random() < 0.4 and self.left(index) > USER_IDLE_S[1] + 3:
                    time.sleep(rng.uniform(*USER_IDLE_S))
                    after_idle = True
                else:
                    time.sleep(rng.uniform(0.3, 2.0))

    def ben(self, rng):
        """Long: sleeps of 9-20 s at the start of each load phase (at most LONG_AT_ONCE), noops
        between. The long sleeps end within the phase, so a quiet period follows on idle workers."""
        index = -1
        while (index := self.wait_load(index)) is not None:
            started = time.monotonic()
            longs = []  # monotonic end times (as planned)
            for _ in range(LONG_AT_ONCE):
                room = self.left(index) - 1.0
                ms = int(min(rng.randint(*LONG_SLEEP_MS), room * 1000))
                if ms < LONG_SLEEP_MS[0]:
                    break
                self.submit("ben", {"kind": "sleep", "args": {"ms": ms}}, "long_sleep")
                longs.append(time.monotonic() + ms / 1000)
                time.sleep(rng.uniform(0.5, 1.5))
            while self.left(index) > 1.0:
                for _ in range(rng.randint(1, 4)):
                    if not self.left(index):
                        break
                    self.noop("ben")
                    time.sleep(rng.uniform(0.05, 0.4))
                time.sleep(rng.uniform(1.0, 3.0))
                # Another long one once one has ended, if it can end within the phase.
                longs = [t for t in longs if t > time.monotonic()]
                if len(longs) < LONG_AT_ONCE and time.monotonic() - started > 10:
                    room = self.left(index) - 1.0
                    if room * 1000 >= LONG_SLEEP_MS[0]:
                        ms = int(min(rng.randint(*LONG_SLEEP_MS), room * 1000))
                        self.submit("ben", {"kind": "sleep", "args": {"ms": ms}}, "long_sleep")
                        longs.append(time.monotonic() + ms / 1000)

    def cat(self, rng):
        """The hog: `loop` jobs (they never return nor look at cancelled()) beside the others, one
        at a time: two of three end at their 2 s deadline, every third is cancelled after 1 s."""
        index = -1
        n = 0
        while (index := self.wait_load(index)) is not None:
            self.first_after_idle("cat", rng)
            time.sleep(rng.uniform(0.5, 2.0))
            while self.left(index) > 4.0:
                n += 1
                if n % 3 == 0:
                    job_id, _ = self.submit("cat", {"kind": "loop", "timeout_ms": HOG_CANCELLED_TIMEOUT_MS,
                                                 "max_attempts": 1}, "hog_cancelled")
                    time.sleep(1.0)
                    if job_id is not None:
                        try:
                            status, _ = request(self.port, "POST", f"/v1/jobs/{job_id}/cancel", self.tokens["cat"])
                            if status == 200:
                                with self.lock:
                                    self.hog_cancels.append(job_id)
                        except RETRYABLE:
                            pass
                else:
                    self.submit("cat", {"kind": "loop", "timeout_ms": HOG_TIMEOUT_MS, "max_attempts": 1}, "hog")
                for _ in range(rng.randint(1, 3)):
                    if not self.left(index):
                        break
                    self.noop("cat")
                    time.sleep(rng.uniform(0.1, 0.5))
                time.sleep(rng.uniform(2.0, 4.0))

    def eve(self, rng):
        """Light: 1-3 noops, gaps of 2-8 s (after a gap past the heartbeat timeout, a silent sleep)."""
        index = -1
        while (index := self.wait_load(index)) is not None:
            after_idle = True
            while self.left(index) > 1.0:
                if after_idle:
                    self.first_after_idle("eve", rng)
                for _ in range(rng.randint(1, 3)):
                    if not self.left(index):
                        break
                    self.noop("eve")
                    time.sleep(rng.uniform(0.05, 0.5))
                gap = rng.uniform(2.0, 8.0)
                if gap > self.left(index):
                    break
                time.sleep(gap)
                after_idle = gap > HEARTBEAT_TIMEOUT_S

    def input_until_acknowledged(self, token, job_id, body):
        until = time.monotonic() + 60
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
            time.sleep(0.1)
        return False

    def dan(self, rng, slot):
        """Sessions: an echo session attached (inputs one at a time, each answer awaited), then
        detached (inputs sent while nobody streams), then resumed with Last-Event-ID (the answers
        come, more inputs), then ended."""
        token = self.tokens["dan"]
        index = -1
        n = 0
        while (index := self.wait_load(index)) is not None:
            time.sleep(slot * 2.0 + rng.uniform(0.0, 1.0))
            while self.left(index) > 10.0:
                n += 1
                job_id, key = self.submit("dan", {"kind": "echo", "args": {"slot": slot}}, "session")
                if job_id is None:
                    continue
                s = {"job_id": job_id, "user": "dan", "key": key, "inputs_acked": [],
                     "end_seq": None, "attached_seqs": [], "detached_seqs": []}
                with self.lock:
                    self.sessions.append(s)
                seq = 0

                def send(attached_to):
                    nonlocal seq
                    seq += 1
                    if self.input_until_acknowledged(token, job_id, {"seq": seq, "data": f"{slot}:{n}:{seq}"}):
                        s["inputs_acked"].append(seq)
                        (s["attached_seqs"] if attached_to else s["detached_seqs"]).append(seq)
                        if attached_to is not None:
                            # Waited past the bound, so that a slow answer shows in the log as slow
                            # (or as unanswered when the stream ends) rather than cut short here.
                            attached_to.wait_for(answered(seq), SESSION_ANSWER_MAX_S * 2)

                st = stream(self.port, token, job_id)
                st.wait_for(running, 15)
                for _ in range(rng.randint(3, 5)):
                    send(st)
                    time.sleep(rng.uniform(0.2, 1.0))
                st.close()
                with self.lock:
                    self.stream_gaps += [(job_id, g) for g in st.gaps]
                for _ in range(rng.randint(1, 3)):
                    send(None)
                time.sleep(rng.uniform(0.5, 2.0))
                st2 = stream(self.port, token, job_id, last_id=st.last_id)
                st2.wait_for(running, 15)
                for q in s["detached_seqs"]:
                    st2.wait_for(answered(q), SESSION_RESUME_ANSWER_MAX_S * 2)
                send(st2)
                seq += 1
                if self.input_until_acknowledged(token, job_id, {"seq": seq, "end": True}):
                    s["end_seq"] = seq
                st2.wait_for(lambda ev: any(e in history.FINAL for _, e, _ in ev), 20)
                st2.close()
                with self.lock:
                    self.stream_gaps += [(job_id, g) for g in st2.gaps]
                time.sleep(rng.uniform(0.5, 2.0))

    # -- node kills ----------------------------------------------------------------------------
    def kill_in_phase(self, phase_start):
        threading.Thread(target=self.kill_at, args=(phase_start + KILL_AT_S,), daemon=True).start()

    def kill_at(self, when):
        # A burst just before the kill: a node that runs tasks on free workers has finished it by
        # the kill; one that queues them behind long sleeps in busy workers loses an attempt each.
        burst_at = when - 1.5
        time.sleep(max(0.0, burst_at - time.monotonic()))
        for _ in range(PRE_KILL_BURST):
            threading.Thread(target=self.submit, args=("ann", {"kind": "noop"}, "pre_kill_noop"), daemon=True).start()
        time.sleep(max(0.0, when - time.monotonic()))
        node = self.node_pid()
        if not node:
            return
        workers = [p for p in children_of(node) if alive(p)]
        t0, w0 = time.monotonic(), now_us()
        os.kill(node, signal.SIGKILL)
        up = self.wait_ready(60, not_pid=node)
        w1 = now_us()
        with self.lock:
            self.node_down_us.append((w0, w1))
            self.kills.append({"at_us": w0, "ready_us": w1, "workers_at_kill": len(workers),
                               "ready_after_s": round(time.monotonic() - t0, 3)})
        if up:
            log(f"node {node} killed with {len(workers)} workers; the new node {up} ready after "
                f"{time.monotonic() - t0:.2f} s")
        else:
            self.violations.append("a node was SIGKILLed and no new node was ready within 60 s")

    # -- the run -------------------------------------------------------------------------------
    def go(self):
        os.makedirs(self.work, exist_ok=True)
        self.run_args = {"seconds": self.a.seconds, "seed": self.a.seed, "binary": self.a.binary}
        self.start_node()
        started_wall = time.monotonic()
        sampler = threading.Thread(target=self.sample_workers, daemon=True)
        sampler.start()
        users = [threading.Thread(target=self.ann, args=(random.Random(self.rng.random()),), daemon=True),
                 threading.Thread(target=self.ben, args=(random.Random(self.rng.random()),), daemon=True),
                 threading.Thread(target=self.cat, args=(random.Random(self.rng.random()),), daemon=True),
                 threading.Thread(target=self.eve, args=(random.Random(self.rng.random()),), daemon=True)]
        users += [threading.Thread(target=self.dan, args=(random.Random(self.rng.random()), slot), daemon=True)
                  for slot in range(2)]
        for t in users:
            t.start()
        self.conduct()
        log("load over; waiting for the users' last steps and every acknowledged job to end")
        for t in users:
            t.join(timeout=60)
            if t.is_alive():
                self.violations.append("a user thread did not finish within 60 s of the load's end")
        unfinished = self.wait_final(time.monotonic() + self.a.drain)
        self.done.set()
        sampler.join()
        if self.heart.poll() is not None:
            self.violations.append(f"heart exited ({self.heart.poll()}) during the run")
        else:
            self.heart.send_signal(signal.SIGTERM)
            try:
                self.heart.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.violations.append("the node did not stop within 40 s of SIGTERM")
        self.kill_everything()
        wall = time.monotonic() - started_wall
        self.save_state(unfinished, wall)
        return self.judge(unfinished, wall)

    def wait_final(self, deadline):
        pending = {}
        with self.lock:
            for job in self.jobs:
                for job_id in job["acked_ids"]:
                    pending[job_id] = self.tokens[job["user"]]
            sessions = [s["job_id"] for s in self.sessions]
        # A session runs only while streamed: one whose client gave up waiting for its end (its
        # answers starved) is streamed here, as a returning client would, so that it can end.
        streams = []
        for job_id in sessions:
            try:
                status, answer = request(self.port, "GET", f"/v1/jobs/{job_id}", self.tokens["dan"])
                if status == 200 and answer.get("state") not in history.FINAL:
                    streams.append(stream(self.port, self.tokens["dan"], job_id))
            except RETRYABLE:
                pass
        while pending and time.monotonic() < deadline:
            for job_id, token in list(pending.items()):
                try:
                    status, answer = request(self.port, "GET", f"/v1/jobs/{job_id}", token)
                    if status == 200 and answer.get("state") in history.FINAL:
                        del pending[job_id]
                except RETRYABLE:
                    break
            if pending:
                time.sleep(0.25)
        for st in streams:
            st.close()
        return sorted(pending)

    def kill_everything(self):
        if self.heart is not None:
            try:
                os.killpg(self.heart.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.heart.wait()

    # -- the figures and the invariants ---------------------------------------------------------
    STATE = ("jobs", "sessions", "kills", "node_down_us", "worker_samples", "stream_gaps", "hog_cancels",
             "violations", "planned", "t0_us", "run_args")

    def save_state(self, unfinished, wall):
        """What the client saw (records.json): enough to judge the run again (--judge-only)."""
        state = {name: getattr(self, name) for name in self.STATE}
        state.update(unfinished=unfinished, wall=wall)
        with open(os.path.join(self.work, "records.json"), "w") as f:
            json.dump(state, f)

    def load_state(self):
        with open(os.path.join(self.work, "records.json")) as f:
            state = json.load(f)
        for name in self.STATE:
            setattr(self, name, state[name])
        self.stream_gaps = [(j, tuple(g)) for j, g in self.stream_gaps]
        return state["unfinished"], state["wall"]

    def judge(self, unfinished, wall):
        records = {"jobs": [{k: j[k] for k in ("key", "user", "kind", "acked_ids")} for j in self.jobs],
                   "sessions": [dict(s) for s in self.sessions], "node_down": self.node_down_us}
        db_path = os.path.join(self.data, "jobs.db")
        findings, violations = history.check(db_path, records)
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        logs = {}
        for job in self.jobs:
            for job_id in job["acked_ids"]:
                logs[job_id] = history.load_events(db, job_id)
        db.close()

        def t(ev, *types):
            return next((e["time_us"] for e in ev if e["type"] in types), None)

        def error_of(e):
            return str(e["payload"].get("error", "")) if isinstance(e["payload"], dict) else ""

        kill_windows = [(k["at_us"], k["ready_us"] + int(KILL_GRACE_S * 1e6)) for k in self.kills]

        def near_kill(a, b):
            return any(a <= e and b >= s for s, e in kill_windows)

        # Batch jobs' lifetimes (submitted -> final), for "was a worker free at this moment".
        batch = []
        for job in self.jobs:
            if not job["acked_ids"] or job["kind"] == "echo":
                continue
            ev = logs[job["acked_ids"][0]]
            batch.append((job, ev, t(ev, "submitted"), t(ev, *history.FINAL)))
        # Each kill: the attempts it burned (logged "interrupted" after it), how many of those were
        # claimed long before the kill (STALE_CLAIM_S), and of those how many cannot have been
        # running: a worker runs one task at a time, so at most `workers_at_kill` stale ones ran;
        # and a noop claimed that long before the kill never started (it ends in microseconds).
        kills_out = []
        for i, k in enumerate(self.kills):
            next_kill = self.kills[i + 1]["at_us"] if i + 1 < len(self.kills) else 1 << 62
            interrupted, stale, stale_noops, kinds = 0, 0, 0, {}
            k["rerun"] = []
            for job, ev, s, f in batch:
                claimed_at = None
                for e in ev:
                    if e["type"] == "claimed":
                        claimed_at = e["time_us"]
                    elif (e["type"] in ("attempt_failed", "dead") and "interrupted" in error_of(e)
                          and k["at_us"] <= e["time_us"] < next_kill and claimed_at is not None
                          and claimed_at < k["at_us"]):
                        interrupted += 1
                        k["rerun"].append(job["acked_ids"][0])
                        kinds[job["role"]] = kinds.get(job["role"], 0) + 1
                        if claimed_at < k["at_us"] - STALE_CLAIM_S * 1e6:
                            stale += 1
                            if job["kind"] == "noop":
                                stale_noops += 1
            never_started = max(stale_noops, stale - k["workers_at_kill"])
            kills_out.append({
                "at_load_s": round((k["at_us"] - self.t0_us) / 1e6, 1),
                "ready_after_s": k["ready_after_s"],
                "workers_at_kill": k["workers_at_kill"],
                "attempts_interrupted": interrupted,
                "interrupted_by_role": kinds,
                "interrupted_claimed_over_1s_before": stale,
                "never_started_at_least": never_started,
                "started_at_most": interrupted - never_started,
            })

        # "A worker was free" is judged on an ideal schedule, not on the node's: the non-noop batch
        # jobs run FIFO on WORKERS workers for their nominal time (sleep: its ms; a hog: to its
        # deadline, or its cancel plus HOG_CANCEL_MAX_S), again from the new node's start if a kill
        # interrupted them. A noop submitted while that schedule had a worker free had nothing to
        # wait for. (The node's own state would not do: on a node that queues badly, everything
        # looks busy.)
        def nominal_us(job, ev):
            body = job["body"]
            if body["kind"] == "sleep":
                return (body["args"]["ms"] + 50) * 1000
            # A hog holds its worker until the worker is killed: at its deadline (+1 s), or after its
            # cancel, within the bound hog_cancel accepts. Bounds, not the node's own times: on a
            # node that queues badly those would make everything look busy.
            if job["role"] == "hog_cancelled" and t(ev, "cancel_requested"):
                return t(ev, "cancel_requested") - t(ev, "submitted") + int(HOG_CANCEL_MAX_S * 1e6)
            return (body.get("timeout_ms", 10000) + 1000) * 1000

        runs = [(s, nominal_us(job, ev)) for job, ev, s, f in batch if job["kind"] != "noop" and s is not None]
        by_id = {job["acked_ids"][0]: (job, ev) for job, ev, s, f in batch}
        for k in self.kills:
            runs += [(k["ready_us"] + 500_000, nominal_us(*by_id[job_id])) for job_id in k["rerun"]]
        runs.sort()
        free_at = [0] * WORKERS
        spans = []  # (ready, end): waiting for or holding a worker in the ideal schedule
        for ready, duration in runs:
            w = min(range(WORKERS), key=lambda i: free_at[i])
            free_at[w] = max(ready, free_at[w]) + duration
            spans.append((ready, free_at[w]))

        def busy_at(time_us):
            return sum(1 for s, f in spans if s <= time_us < f)

        noop_free, noop_all, noop_near_kill, short_wait, short_wait_free = [], [], 0, [], []
        noop_free_jobs = []  # (latency, job id, load second, jobs holding a worker in the ideal schedule)
        for job, ev, s, f in batch:
            if s is None or f is None:
                continue
            latency = (f - s) / 1e6
            if job["kind"] == "noop":
                noop_all.append(latency)
                if near_kill(s, f):
                    noop_near_kill += 1
                elif busy_at(s) < WORKERS:
                    noop_free.append(latency)
                    noop_free_jobs.append((round(latency, 3), job["acked_ids"][0], round((s - self.t0_us) / 1e6, 2),
                                           busy_at(s)))
            elif job["role"] == "short_sleep" and not near_kill(s, f) and t(ev, "succeeded"):
                wait = max(0.0, latency - job["body"]["args"]["ms"] / 1000)
                short_wait.append(wait)
                # busy_at counts the sleep itself: a worker was free for it if the others left one.
                if busy_at(s) <= WORKERS:
                    short_wait_free.append(wait)

        # Heartbeat kills and the first jobs after an idle gap.
        heartbeat = []
        first_after_idle = {"count": 0, "succeeded_first_attempt": 0, "dead": 0}
        for job_id, ev in logs.items():  # session answers included: a failed one is an output's error
            heartbeat += [job_id for e in ev if "stopped answering heartbeats" in json.dumps(e["payload"])]
        for job, ev, s, f in batch:
            if job["role"] == "first_after_idle":
                first_after_idle["count"] += 1
                final = next((e["type"] for e in ev if e["type"] in history.FINAL), "unfinished")
                outcome = "succeeded_first_attempt" if final == "succeeded" else final
                first_after_idle[outcome] = first_after_idle.get(outcome, 0) + 1
        node_log_heartbeat = 0
        try:
            with open(os.path.join(self.work, "node.log"), errors="replace") as f:
                node_log_heartbeat = sum(1 for line in f if "stopped answering heartbeats" in line)
        except OSError:
            pass

        # Sessions: inputs logged while a client streamed the session (between running/resumed
        # and paused in the log) must be answered before that stream ended, within the bound;
        # inputs logged while detached, within the bound of the resume.
        attached_lat, resume_lat, unanswered_attached, slow_attached, slow_resume = [], [], [], [], []
        for s in self.sessions:
            ev = logs.get(s["job_id"], [])
            attached_since = None
            pending = {}  # seq -> (input time, attached?)
            windows_end = []
            last_resume = None
            for e in ev:
                p = e["payload"] if isinstance(e["payload"], dict) else {}
                if e["type"] in ("claimed", "resumed"):
                    attached_since = e["time_us"]
                    last_resume = e["time_us"]
                elif e["type"] == "paused":
                    for seq, (ti, att) in list(pending.items()):
                        if att and not near_kill(ti, e["time_us"]):
                            unanswered_attached.append((s["job_id"], seq, round((e["time_us"] - ti) / 1e6, 2)))
                            pending[seq] = (ti, False)
                    attached_since = None
                    windows_end.append(e["time_us"])
                elif e["type"] == "input":
                    inp = p  # the log's input payload: {seq, data, end}
                    if inp.get("end"):
                        continue
                    pending[inp.get("seq")] = (e["time_us"], attached_since is not None)
                elif e["type"] == "output":
                    chunk = p.get("chunk", {}) if isinstance(p.get("chunk"), dict) else {}
                    seq = chunk.get("seq")
                    if seq not in pending:
                        continue
                    ti, att = pending.pop(seq)
                    if near_kill(ti, e["time_us"]):
                        continue
                    if att:
                        lat = (e["time_us"] - ti) / 1e6
                        attached_lat.append(lat)
                        if lat > SESSION_ANSWER_MAX_S:
                            slow_attached.append((s["job_id"], seq, round(lat, 2)))
                    else:
                        lat = (e["time_us"] - max(ti, last_resume or ti)) / 1e6
                        resume_lat.append(lat)
                        if lat > SESSION_RESUME_ANSWER_MAX_S:
                            slow_resume.append((s["job_id"], seq, round(lat, 2)))

        hog_cancel = []
        for job, ev, s, f in batch:
            if job["role"] == "hog_cancelled" and job["acked_ids"][0] in self.hog_cancels:
                c, end = t(ev, "cancel_requested"), t(ev, *history.FINAL)
                if c and end and not near_kill(c, end):
                    hog_cancel.append((end - c) / 1e6)
        hog_slow = [round(x, 2) for x in hog_cancel if x > HOG_CANCEL_MAX_S]

        samples = [n for _, n in self.worker_samples]
        by_count = {}
        for n in samples:
            by_count[n] = by_count.get(n, 0) + 1
        roles = {}
        for job in self.jobs:
            roles[job["role"]] = roles.get(job["role"], 0) + 1

        noop_q = quantiles(noop_free)
        never_started_total = sum(k["never_started_at_least"] for k in kills_out)
        invariants = {
            "history": {"ok": not violations, "violations": len(violations)},
            "every_job_final": {"ok": not unfinished, "unfinished": len(unfinished)},
            "heartbeat_kills": {"ok": len(heartbeat) <= HEARTBEAT_KILLS_MAX, "value": len(heartbeat),
                                "max": HEARTBEAT_KILLS_MAX},
            "noop_latency_with_a_free_worker_p99": {"ok": noop_q["count"] == 0 or noop_q["p99"] <= NOOP_FREE_P99_MAX_S,
                                                    "value_s": noop_q["p99"], "max_s": NOOP_FREE_P99_MAX_S},
            "noop_latency_with_a_free_worker_max": {"ok": noop_q["count"] == 0 or noop_q["max"] <= NOOP_FREE_MAX_S,
                                                    "value_s": noop_q["max"], "max_s": NOOP_FREE_MAX_S},
            "session_answered_while_attached": {
                "ok": not unanswered_attached and not slow_attached,
                "unanswered_before_detach": len(unanswered_attached), "slower_than_bound": len(slow_attached),
                "max_s": SESSION_ANSWER_MAX_S},
            "session_answered_after_resume": {"ok": not slow_resume, "slower_than_bound": len(slow_resume),
                                              "max_s": SESSION_RESUME_ANSWER_MAX_S},
            "session_stream_no_gaps": {"ok": not self.stream_gaps, "gaps": len(self.stream_gaps)},
            "kill_burns_only_started_attempts": {"ok": never_started_total <= NEVER_STARTED_BURNED_MAX,
                                                 "never_started_burned": never_started_total,
                                                 "max": NEVER_STARTED_BURNED_MAX},
            "hog_cancel": {"ok": not hog_slow, "slower_than_bound_s": hog_slow, "max_s": HOG_CANCEL_MAX_S},
        }
        failed = [name for name, v in invariants.items() if not v["ok"]]
        everything = self.violations + violations
        everything += [f"heartbeat kill: job {j}" for j in heartbeat]
        everything += [f"session {j}: input {q} unanswered while attached ({d} s until the stream ended)"
                       for j, q, d in unanswered_attached]
        everything += [f"session {j}: input {q} answered {d} s after it was logged, attached" for j, q, d in slow_attached]
        everything += [f"session {j}: input {q} answered {d} s after the resume" for j, q, d in slow_resume]
        everything += [f"session {j}: stream ids jumped from {a} to {b}" for j, (a, b) in self.stream_gaps]
        summary = {
            "seconds": self.run_args["seconds"],
            "wall_s": round(wall, 1),
            "seed": self.run_args["seed"],
            "binary": self.run_args["binary"],
            "workers": WORKERS,
            "plan": self.planned,
            "users": PERSONAS,
            "jobs": {"submitted_by_role": roles, "acknowledged": findings["jobs_acknowledged"],
                     "final_by_state": findings["final_by_state"], "lost": findings["lost"],
                     "doubled": findings["doubled"], "unfinished": findings["unfinished"],
                     "final_more_than_once": findings["final_more_than_once"],
                     "still_unfinished_at_drain": len(unfinished)},
            "noop_submit_to_done_s": {"with_a_free_worker": noop_q, "all": quantiles(noop_all),
                                      "near_a_kill_not_judged": noop_near_kill,
                                      "slowest_with_a_free_worker": [
                                          {"latency_s": lat, "job": j, "at_load_s": at, "ideal_busy": b}
                                          for lat, j, at, b in sorted(noop_free_jobs, reverse=True)[:5]]},
            "short_sleep_wait_beyond_its_ms_s": {"all": quantiles(short_wait),
                                                 "with_a_free_worker": quantiles(short_wait_free)},
            "session_answer_s": {"while_attached": quantiles(attached_lat), "after_resume": quantiles(resume_lat),
                                 "unanswered_while_attached": unanswered_attached[:20]},
            "node_kills": kills_out,
            "attempts_burned_per_kill": (round(sum(k["attempts_interrupted"] for k in kills_out) / len(kills_out), 1)
                                         if kills_out else None),
            "heartbeat_kills": {"errors_in_log": len(heartbeat), "jobs": len(set(heartbeat)), "node_log_lines": node_log_heartbeat},
            "first_after_idle": first_after_idle,
            "workers_ever_running": {"max": max(samples) if samples else 0, "samples_by_count": by_count},
            "hog": {"cancel_to_cancelled_s": quantiles(hog_cancel)},
            "history": {"overlapping_attempts": findings["overlapping_attempts"],
                        "interrupted_attempts": findings["interrupted_attempts"],
                        "interrupted_while_node_alive": findings["interrupted_while_node_alive"],
                        "session_inputs_acknowledged": findings["session_inputs_acknowledged"],
                        "session_inputs_answered_once": findings["session_inputs_answered_once"],
                        "session_inputs_unanswered": findings["session_inputs_unanswered"],
                        "session_inputs_answered_twice": findings["session_inputs_answered_twice"]},
            "invariants": invariants,
            "failed": failed,
            "ok": not failed and not self.violations,
            "violations_total": len(everything),
            "violations": everything[:40],
        }
        with open(os.path.join(self.work, "violations.json"), "w") as f:
            json.dump(everything, f, indent=1)
        return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", help="the respawn binary (required unless --judge-only)")
    parser.add_argument("--work", required=True, help="the run's folder: data, node.log, records, summary")
    parser.add_argument("--seconds", type=float, default=600, help="the load's length")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--kill-every", type=float, default=120, help="a node SIGKILL every this many seconds")
    parser.add_argument("--kills", type=int, default=None, help="the number of node kills (overrides --kill-every)")
    parser.add_argument("--drain", type=float, default=60, help="seconds for acknowledged jobs to end after the load")
    parser.add_argument("--judge-only", action="store_true",
                        help="judge the run in --work again (its records.json and data) without running it")
    a = parser.parse_args()
    if a.judge_only:
        run = soak(a)
        summary = run.judge(*run.load_state())
        print(json.dumps(summary, indent=2))
        return 0 if summary["ok"] else 1
    if not a.binary:
        parser.error("--binary is required")
    if a.seed is None:
        a.seed = random.randrange(1 << 30)
    if a.port == 0:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            a.port = s.getsockname()[1]
    log(f"seed {a.seed}")
    run = soak(a)
    try:
        summary = run.go()
    except BaseException:
        run.kill_everything()
        raise
    text = json.dumps(summary, indent=2)
    with open(os.path.join(a.work, "summary.json"), "w") as f:
        f.write(text + "\n")
    print(text)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
