#!/usr/bin/env python3
"""The chaos run's history checker: reads a node's jobs.db (after the node stopped) and what the
clients recorded, and checks the invariants of docs/chaos.md. Python 3 standard library only.

    python3 tests/chaos/history.py DATA_DIR RECORDS.json     # prints the findings as JSON

The records (written by chaos.py) say what the clients saw: each batch submission's idempotency
key and every job id the node acknowledged for it; each session job, the inputs the node
acknowledged (202); the windows in which the node was down on purpose (SIGKILL until heart's new
node answered). The log is the node's own account; the records are the clients'. A job the node
acknowledged must be in the log, final exactly once; an acknowledged input must be in the log and
answered exactly once; a key must name one job; attempts of a job must not overlap.
"""
import json
import sqlite3
import sys

FINAL = ("succeeded", "dead", "cancelled")
ENDS_ATTEMPT = ("attempt_failed",) + FINAL


def load_events(db, job_id):
    rows = db.execute(
        "SELECT sequence, time_us, type, payload FROM events WHERE job_id = ? ORDER BY sequence", (job_id,)
    ).fetchall()
    out = []
    for sequence, time_us, type_, payload in rows:
        try:
            payload = json.loads(payload)
        except ValueError:
            payload = {"unreadable": payload}
        out.append({"sequence": sequence, "time_us": time_us, "type": type_, "payload": payload})
    return out


def in_window(time_us, windows, grace_us):
    return any(start - grace_us <= time_us <= end + grace_us for start, end in windows)


def check_attempts(job_id, events, node_down, violations, findings):
    """One attempt at a time: a `claimed` of attempt n+1 never before the end of attempt n."""
    open_attempt = None
    last_attempt = 0
    for e in events:
        if e["type"] == "claimed":
            attempt = e["payload"].get("attempt") if isinstance(e["payload"], dict) else None
            if open_attempt is not None:
                violations.append(f"job {job_id}: attempt {attempt} claimed (event {e['sequence']}) while attempt "
                                  f"{open_attempt} had not ended")
                findings["overlapping_attempts"] += 1
            if attempt != last_attempt + 1:
                violations.append(f"job {job_id}: claimed attempt {attempt} after attempt {last_attempt}")
            open_attempt = attempt
            last_attempt = attempt if isinstance(attempt, int) else last_attempt
        elif e["type"] in ENDS_ATTEMPT:
            error = e["payload"].get("error", "") if isinstance(e["payload"], dict) else ""
            if e["type"] == "attempt_failed" and "interrupted" in str(error):
                # Logged by a job's process that restarted while its attempt had no outcome. After a
                # node death that is true (the workers died with it); with the node alive, the
                # attempt may still run in its worker while the next one starts (review F3).
                findings["interrupted_attempts"] += 1
                if not in_window(e["time_us"], node_down, grace_us=30_000_000):
                    findings["interrupted_while_node_alive"].append(job_id)
            open_attempt = None


def check(db_path, records):
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    node_down = [tuple(w) for w in records.get("node_down", [])]
    violations = []
    findings = {
        "jobs_acknowledged": 0,
        "jobs_final": 0,
        "lost": 0,
        "doubled": 0,
        "unfinished": 0,
        "final_more_than_once": 0,
        "overlapping_attempts": 0,
        "interrupted_attempts": 0,
        "interrupted_while_node_alive": [],
        "final_by_state": {},
        "sessions": 0,
        "session_inputs_acknowledged": 0,
        "session_inputs_answered_once": 0,
        "session_inputs_unanswered": 0,
        "session_inputs_answered_twice": 0,
    }

    def judge_job(job_id, where):
        row = db.execute("SELECT status, user_name, idempotency_key FROM jobs WHERE id = ?", (job_id,)).fetchone()
        events = load_events(db, job_id)
        if row is None or not events:
            findings["lost"] += 1
            violations.append(f"{where}: job {job_id} was acknowledged but is not in the log")
            return None, events
        finals = [e for e in events if e["type"] in FINAL]
        if not finals:
            findings["unfinished"] += 1
            violations.append(f"{where}: job {job_id} never ended (state {row[0]}, last event "
                              f"{events[-1]['type']})")
        elif len(finals) > 1:
            findings["final_more_than_once"] += 1
            violations.append(f"{where}: job {job_id} ended {len(finals)} times")
        else:
            findings["jobs_final"] += 1
            findings["final_by_state"][finals[0]["type"]] = findings["final_by_state"].get(finals[0]["type"], 0) + 1
            if events[-1]["type"] not in FINAL:
                violations.append(f"{where}: job {job_id} has events after its end")
            if row[0] != finals[0]["type"]:
                violations.append(f"{where}: job {job_id}'s row says {row[0]}, its log {finals[0]['type']}")
        check_attempts(job_id, events, node_down, violations, findings)
        return row, events

    for job in records.get("jobs", []):
        ids = sorted(set(job.get("acked_ids", [])))
        if not ids:
            continue  # never acknowledged: the client may not count on it (and did retry it)
        findings["jobs_acknowledged"] += 1
        if len(ids) > 1:
            findings["doubled"] += 1
            violations.append(f"key {job['key']}: acknowledged as jobs {ids} (one key, one job)")
        for job_id in ids:
            row, _ = judge_job(job_id, f"key {job['key']}")
            if row is not None and (row[1] != job["user"] or row[2] != job["key"]):
                violations.append(f"key {job['key']}: job {job_id} belongs to {row[1]} with key {row[2]}")
        # The same key must not have made a second job in the log either (the unique index says so).
        n = db.execute("SELECT COUNT(*) FROM jobs WHERE user_name = ? AND idempotency_key = ?",
                       (job["user"], job["key"])).fetchone()[0]
        if n > 1:
            findings["doubled"] += 1
            violations.append(f"key {job['key']}: {n} jobs in the log")

    for s in records.get("sessions", []):
        job_id = s.get("job_id")
        if job_id is None:
            continue
        findings["sessions"] += 1
        events = load_events(db, job_id)  # judged as a job above: its submission was acknowledged
        inputs = {}
        answers = {}
        for e in events:
            p = e["payload"] if isinstance(e["payload"], dict) else {}
            if e["type"] == "input":
                inputs[p.get("seq")] = inputs.get(p.get("seq"), 0) + 1
            elif e["type"] == "output":
                chunk = p.get("chunk", {})
                if isinstance(chunk, dict) and "seq" in chunk:
                    answers[chunk["seq"]] = answers.get(chunk["seq"], 0) + 1
        for seq, n in inputs.items():
            if n > 1:
                violations.append(f"session {job_id}: input {seq} logged {n} times")
        ended = bool(events) and events[-1]["type"] == "succeeded"
        for seq in sorted(set(s.get("inputs_acked", []))):
            findings["session_inputs_acknowledged"] += 1
            if seq not in inputs:
                findings["session_inputs_unanswered"] += 1
                violations.append(f"session {job_id}: input {seq} was acknowledged (202) but is not in the log")
                continue
            n = answers.get(seq, 0)
            if n == 1:
                findings["session_inputs_answered_once"] += 1
            elif n == 0:
                findings["session_inputs_unanswered"] += 1
                if ended:
                    violations.append(f"session {job_id} succeeded with input {seq} unanswered")
                else:
                    violations.append(f"session {job_id}: input {seq} never answered (the session did not end)")
            else:
                findings["session_inputs_answered_twice"] += 1
                violations.append(f"session {job_id}: input {seq} answered {n} times")
    db.close()
    findings["interrupted_while_node_alive"] = sorted(set(findings["interrupted_while_node_alive"]))
    return findings, violations


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[2]) as f:
        records = json.load(f)
    findings, violations = check(argv[1].rstrip("/") + "/jobs.db", records)
    print(json.dumps({"findings": findings, "violations": violations}, indent=2))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
