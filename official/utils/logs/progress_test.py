from official.utils.logs import progress


def test_line_progress_writes_every_interval_and_at_the_end():
    now = [0.0]
    lines = []
    with progress.LineProgress(10, "epochs 1-2", "steps", interval=5.0, write=lines.append,
                               clock=lambda: now[0]) as p:
        for _ in range(10):
            now[0] += 2.0
            p.update(1)
    # Lines at 6 s (3 steps) and 12 s (6 steps) and 18 s (9 steps), then the end (20 s).
    assert lines == ["epochs 1-2: 3/10 steps (30%), 6.0 s",
                     "epochs 1-2: 6/10 steps (60%), 12.0 s",
                     "epochs 1-2: 9/10 steps (90%), 18.0 s",
                     "epochs 1-2: 10/10 steps (100%), 20.0 s"]


def test_unknown_total_and_disabled_progress():
    lines = []
    p = progress.LineProgress(None, "download", "B", write=lines.append, clock=lambda: 1.0)
    p.update(512)
    p.close()
    assert lines == ["download: 512 B, 0.0 s"]
    with progress.bar(5, "x", "steps", enabled=False) as off:
        off.update(3)  # a non-chief worker: nothing shown, nothing raised
    assert isinstance(progress.bar(5, "x", "steps", interactive=False), progress.LineProgress)
    big = progress.bar(5_000_000, "get", "B", interactive=False, initial=1_048_576)
    assert big._line().startswith("get: 1,048,576/5,000,000 B (21%), ")
