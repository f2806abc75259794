"""The fahadfs chaos harness: ``python -m chaos`` (see chaos/__main__.py for the command line).

A run starts a real cluster (chaos.cluster), runs a seeded workload of concurrent clients
(chaos.workload) while a nemesis injects faults on a seeded schedule (chaos.schedule,
chaos.nemesis), records every operation in a history (chaos.history), heals, waits for the
cluster to settle, reads everything back, and checks the history with pure checkers
(chaos.checkers). The outcome is a run directory and a summary table (chaos.report).

    schedule.py    pure    (seed, scenario, duration) -> timed fault actions; JSON save/load
    workload.py    shell   clients doing namespace ops, puts and gets; records the history
    nemesis.py     shell   named faults, each returning an event (ok / skip / noop / fail)
    cluster.py     shell   3 masters + 5 file nodes, own session and group id each
    netfilter.py   shell   nftables partitions keyed on group ids (one table per run)
    netns.py       shell   one network namespace per process, joined by a bridge
    probe.py       shell   the master's replica map and the chunk files on disk
    runner.py      shell   one run, start to finish
    checkers/      pure    durability, replicas, recovery, linearizable, duplicates, sessions
    content.py     pure    seeded file contents, hashes and chunk fingerprints
    history.py             JSONL events and their pairing into operations
    report.py      pure    verdicts and the summary table
"""
