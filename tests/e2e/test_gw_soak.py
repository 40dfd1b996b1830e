"""The crash soak, short (issue 7; the full one is bench/soak.py): load
through RingCentral (bench/fakecarrier), three SIGKILLs at seeded random
moments (one of them 0.09 s after a restart, inside the recovery pass),
restarts on the same data. Nothing acknowledged may be lost, and every
message the carrier got twice must have been in `sending` at a kill.

The soak must have proved something: every kill hit acknowledged messages
that were not terminal yet, some of them `sending`. And the judge itself
is checked: a made-up acknowledged id must count as lost, and without the
kills on record the carrier's duplicates must count as unexplained."""
import importlib.util
import os

from gwtest import run

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "soak", os.path.join(HERE, "..", "..", "bench", "soak.py"))
soak = importlib.util.module_from_spec(spec)
spec.loader.exec_module(soak)

CHECKS = {}


def judge_the_judge(s, rep):
    """Re-judge the same run with altered records, while it still runs."""
    s.acked["soak made-up"] = ("msg_000000000000", 0.0, 0.0)
    CHECKS["made_up_lost"] = s.analyse(0)["lost"]
    del s.acked["soak made-up"]
    kills, s.kills = s.kills, []
    CHECKS["no_kills"] = s.analyse(0)
    s.kills = kills


def test_short_soak():
    # injected timeouts hold a send past smsgw's 15 s timeout: left out here
    # to keep this short (5xx, 429 and dropped connections stay)
    o = soak.options(["--cycles", "3", "--seed", "2", "--per-cycle-seconds", "1-2.5",
                      "--threads", "4", "--no-timeout-faults", "--drain-timeout", "240"])
    rep = soak.run(o, inspect=judge_the_judge)
    print(soak.summary(rep), flush=True)
    assert rep["cycles"] == 3 and not rep["gw_died"], rep
    assert rep["acked"] >= 100, "too little load to prove anything: %r" % rep
    # what matters
    assert rep["lost"] == 0, rep["problems"]
    assert rep["dup_unexplained"] == 0, rep["problems"]
    assert rep["stuck"] == 0 and rep["orphans"] == 0 and rep["phantoms"] == 0, rep["problems"]
    assert rep["tokens_stored_twice"] == 0, rep["problems"]
    assert rep["ok"], rep["problems"]
    # the kills hit messages in flight
    assert all(n > 0 for n in rep["in_flight_per_kill"]), rep["in_flight_per_kill"]
    # whether a kill catches messages in `sending` depends on timing (under
    # ASan the pipeline is slower and kills may find them all queued): shown,
    # not required here; bench/soak.py's 20-cycle runs catch thousands
    print("  at the kills: %r; interrupted in sending: %d"
          % (rep["state_at_kills"], rep["messages_interrupted_in_sending"]), flush=True)
    assert rep["final_exit"] == 0, "SIGTERM at the end: exit %r" % rep.get("final_exit")
    # the judge can say no
    assert CHECKS["made_up_lost"] == 1, CHECKS
    nk = CHECKS["no_kills"]
    assert nk["dup_unexplained"] == nk["dup"] == rep["dup"], (nk["dup"], nk["dup_unexplained"])
    assert rep["dup"] == 0 or not nk["ok"]


run([
    ("3 SIGKILLs under load through RingCentral: nothing acknowledged lost, every duplicate "
     "was sending at a kill", test_short_soak),
])
