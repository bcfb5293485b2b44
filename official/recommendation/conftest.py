"""Helpers shared by the NCF test files: small synthetic ncf_main runs and exports."""

from absl import flags

from official.recommendation import ncf_flags, ncf_main
from official.recommendation.training import task

SMALL = ["--dataset=synthetic", "--synthetic_users=500", "--synthetic_items=300",
         "--synthetic_ratings=25000", "--batch_size=1024", "--learning_rate=0.005",
         "--num_factors=8", "--layers=64,32,16,8"]


def parse(*args):
    """ncf_main's parsed flags on the small synthetic data (`SMALL`) plus `args`."""
    fv = flags.FlagValues()
    ncf_flags.define_ncf_flags(fv)
    fv(["ncf_main", *SMALL, *args])
    return fv


def load_data(fv):
    """The NCFData the parsed flags name."""
    return task.load_data(ncf_flags.configs(fv)[0].data)


def train_config(fv):
    """The last stage's TrainConfig of the parsed flags."""
    return ncf_flags.configs(fv)[-1].train


def run(data_dir, model_dir, *args):
    """ncf_main on the small data in `model_dir`; returns its result."""
    return ncf_main.run_from_flags(parse(f"--data_dir={data_dir}", f"--model_dir={model_dir}",
                                         *args))


EXPORT_SMALL = ["--dataset=synthetic", "--synthetic_users=120", "--synthetic_items=80",
                "--synthetic_ratings=4000", "--batch_size=512", "--learning_rate=0.01",
                "--hooks=", "--num_eval_negatives=30"]


def train_export(tmp, *extra):
    """Trains 2 epochs on `EXPORT_SMALL` data under `tmp` and exports; (tmp, its NCFData)."""
    fv = flags.FlagValues()
    ncf_flags.define_ncf_flags(fv)
    fv(["ncf_main", *EXPORT_SMALL, f"--data_dir={tmp / 'data'}", f"--model_dir={tmp / 'model'}",
        "--train_epochs=2", f"--export_dir={tmp / 'export'}", *extra])
    ncf_main.run_from_flags(fv)
    return tmp, task.load_data(ncf_flags.configs(fv)[0].data)


def write_split(prefix, negative_lines=None, train=None, test=None):
    """Writes PREFIX.train.rating / .test.rating / .test.negative (a tiny default split)."""
    # Item 4 is in the training file: it sets the id range (items 0-4).
    train = train or ("0\t1\t5\t100\n0\t2\t4\t101\n1\t0\t3\t102\n1\t3\t3\t103\n"
                      "1\t4\t2\t104\n")
    test = test or "0\t3\t5\t200\n1\t2\t4\t201\n"
    neg = negative_lines or "(0,3)\t0\t4\n(1,2)\t1\t4\n"
    for suffix, text in ((".train.rating", train), (".test.rating", test),
                         (".test.negative", neg)):
        with open(prefix + suffix, "w") as f:
            f.write(text)
