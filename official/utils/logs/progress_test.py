from official.utils.logs import progress


def test_line_progress_writes_every_interval_and_at_the_end():
    now = [0.0]
    lines = []
    with progress.LineProgress(10, "epochs 1-2", "steps", interval=5.0, write=lines.append,
                               clock=lambda: now[0]) as p:
        for _ in range(10):
            now[0] += 2.0
            p.update(1)
    # Lines at 6 s (3 steps) and 12 s (6 steps) and 18 s (9 steps), then the end (20 s);
    # the time left is the elapsed time per step times the steps to go.
    assert lines == ["epochs 1-2: 3/10 steps (30%), 6.0 s, about 14 s left",
                     "epochs 1-2: 6/10 steps (60%), 12.0 s, about 8 s left",
                     "epochs 1-2: 9/10 steps (90%), 18.0 s, about 2 s left",
                     "epochs 1-2: 10/10 steps (100%), 20.0 s"]


def test_the_last_line_is_written_once_and_long_estimates_read_in_minutes():
    now = [0.0]
    lines = []
    with progress.LineProgress(400, "epoch 1", "steps", interval=5.0, write=lines.append,
                               clock=lambda: now[0]) as p:
        now[0] = 6.0
        p.update(4)  # 6 s for 4 steps: 594 s left
        now[0] = 600.0
        p.update(396)  # the 100% line, at an interval: close() does not repeat it
    assert lines == ["epoch 1: 4/400 steps (1%), 6.0 s, about 10 min left",
                     "epoch 1: 400/400 steps (100%), 600.0 s"]
    assert progress._duration(3900) == "1 h 5 min"


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


def test_without_a_final_line_a_short_job_writes_nothing_and_a_long_one_its_end():
    now = [0.0]
    lines = []
    with progress.LineProgress(10, "epoch 1", "steps", interval=5.0, write=lines.append,
                               clock=lambda: now[0], final_line=False) as p:
        now[0] = 4.0
        p.update(10)
    assert lines == []
    with progress.LineProgress(10, "epoch 2", "steps", interval=5.0, write=lines.append,
                               clock=lambda: now[0], final_line=False) as p:
        now[0] = 10.0
        p.update(5)
        now[0] = 12.0
        p.update(5)
    assert lines == ["epoch 2: 5/10 steps (50%), 6.0 s, about 6 s left",
                     "epoch 2: 10/10 steps (100%), 8.0 s"]
