import pytest
from absl import flags

from official.utils.flags import core as flags_core


def define_all(values):
    names = (flags_core.define_base(flag_values=values)
             + flags_core.define_benchmark(flag_values=values))
    flags_core.define_distribution(flag_values=values)
    return names


def test_groups_register_expected_flags():
    values = flags.FlagValues()
    names = define_all(values)
    assert names == ["data_dir", "model_dir", "clean", "train_epochs", "epochs_between_evals",
                     "stop_threshold", "batch_size", "num_gpus", "hooks", "export_dir",
                     "export_versioned", "benchmark_log_dir", "benchmark_test_id"]
    values(["prog", "-bs", "256", "--te", "3", "--hooks", "LoggingHook,ProfilerHook"])
    assert (values.batch_size, values.train_epochs, values.hooks) == (
        256, 3, ["LoggingHook", "ProfilerHook"])
    assert all(values[n].help for n in names)


@pytest.mark.parametrize("argv,flag", [
    (["--batch_size", "0"], "batch_size"),
    (["--batch_size", "-5"], "batch_size"),
    (["--train_epochs", "0"], "train_epochs"),
    (["--num_gpus", "-1"], "num_gpus"),
    (["--hooks", "LoggingHook,NoSuchHook"], "--hooks must name"),
])
def test_validators_reject_bad_values(argv, flag):
    values = flags.FlagValues()
    define_all(values)
    with pytest.raises(flags.IllegalFlagValueError, match=flag):
        values(["prog", *argv])


def test_groups_can_be_trimmed():
    values = flags.FlagValues()
    names = flags_core.define_base(hooks=False, export_dir=False, flag_values=values)
    assert "hooks" not in names and "export_dir" not in names and "hooks" not in values


def test_help_wrap_leaves_wrapping_to_absl():
    # One line, single spaces: absl wraps help once (twice broke lines mid-sentence).
    assert flags_core.help_wrap("a  long\n  text ") == "a long text"
    assert "\n" not in flags_core.help_wrap("word " * 40)


def test_typed_configs_from_flags(monkeypatch):
    values = flags.FlagValues()
    define_all(values)
    values(["prog", "--model_dir=/m", "--te=4", "--hooks=LoggingHook", "--clean",
            "--num_cpu_devices=2", "--st=0.5"])
    assert flags_core.given(values) == {"model_dir", "train_epochs", "hooks", "clean",
                                        "num_cpu_devices", "stop_threshold"}
    run = flags_core.run_config(values, stop_metrics=("accuracy",))
    assert (run.model_dir, run.train_epochs, run.clean, run.hooks, run.stop_threshold,
            run.stop_metrics) == ("/m", 4, True, ("LoggingHook",), 0.5, ("accuracy",))
    with pytest.raises(AttributeError):  # frozen
        run.model_dir = "/other"
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1", "b:1"]}, '
                                    '"task": {"type": "worker", "index": 1}}')
    dist = flags_core.distribution_config(values)
    assert (dist.strategy, dist.num_cpu_devices, dist.cluster.worker_index) == ("auto", 2, 1)
