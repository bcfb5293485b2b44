from official.utils.logs import history


def test_history_accumulates_seconds_and_a_resume_replaces_later_cycles(tmp_path):
    d = str(tmp_path)
    assert history.read(d) == {"facts": {}, "cycles": []}
    history.append(d, 1, 2.5, {"validation_HR": 0.5}, {"model": "mf"})
    history.append(d, 2, 2.0, {"validation_HR": 0.6}, {"model": "mf"})
    history.append(d, 3, 1.0, {"validation_HR": 0.4}, {"model": "mf"})
    # A run resumed from epoch 2's checkpoint trains epoch 3 again.
    history.append(d, 3, 1.5, {"validation_HR": 0.7}, {"model": "mf"})
    got = history.read(d)
    assert got["facts"] == {"model": "mf"}
    assert got["cycles"] == [{"epoch": 1, "seconds": 2.5, "validation_HR": 0.5},
                             {"epoch": 2, "seconds": 4.5, "validation_HR": 0.6},
                             {"epoch": 3, "seconds": 6.0, "validation_HR": 0.7}]
    (tmp_path / history.HISTORY).write_text("[1, 2]")  # not ours: read as empty
    assert history.read(d)["cycles"] == []
