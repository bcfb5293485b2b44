"""NCF speed and memory benchmark on synthetic MovieLens.

    python -m official.recommendation.benchmarks.ncf_benchmark --output FILE.json \
        [--scale ml-1m|ml-20m]

In one run, on synthetic data of the chosen scale (ml-20m: 138,493 users,
26,744 items, 20M ratings; ml-1m: 6,040 / 3,706 / 1M), it measures and
writes as JSON:

* `preprocess_s`, `preprocess_peak_rss_mb`: ratings.csv -> cached training /
  evaluation arrays, in a fresh process;
* `neg_sampling_per_s`: one epoch's negatives in bulk (median of three epochs);
* `input_examples_per_s`: the input pipeline alone (sampling, shuffling,
  batching), beside `train_examples_per_s`: the real `ncf_main` training path
  at --batch_size (XLA step, input overlapped), timed after the first
  (compiling) call;
* `keras_fit_examples_per_s`: a plain Keras `model.fit` of an identical
  NeuMF (separate embeddings, same layers) on the same examples, at batch
  256 and at --batch_size, and `speedup_vs_keras_fit` at --batch_size;
* `epoch_s` (one full epoch: at ml-1m the median of epochs 1-5, after the
  compiling epoch 0; at ml-20m the only epoch, compile included), `eval_s`
  (one full evaluation, compiled),
  `full_eval_s` (one full-ranking evaluation: every test user against every
  item, `--eval_protocol full`; off with --nofull_eval),
  `train_peak_rss_mb` (peak memory of the training epochs: the process's
  peak is reset to its current size just before them, on Linux), and
  `rss_mb_by_stage` (resident memory after loading the data, building the
  trainer, sampling negatives, reading an input epoch, freeing it, and
  training);
* at ml-1m scale, `hr_fast` / `hr_reference`: HR@10 after --accuracy_epochs
  epochs with the fast recipe and with the paper's (batch 256, lr 0.001).

The model timed is `ncf_main`'s default (`TrainConfig()`: 32 factors,
layers 64,32,16, cosine schedule) unless `--model_settings paper` asks for
the paper's (8 factors, layers 64,32,16,8, constant learning rate); the
JSON's `model_settings` and `timed_config` say which.

Generated data is cached under --work_dir.
"""

import multiprocessing
import os
import shutil
import time

from absl import app, flags, logging

from official.datasets import movielens
from official.datasets.movielens_synthetic import SyntheticSpec
from official.utils.flags import core as flags_core
from official.utils.logs import logger
from official.utils.misc import memory

SCALES = {
    "ml-1m": SyntheticSpec(6_040, 3_706, 1_000_209, seed=0),
    "ml-20m": SyntheticSpec(138_493, 26_744, 20_000_263, seed=0),
}
NUM_EVAL_NEGATIVES = 100


def _child(fn, *args):
    """Runs fn(*args) in a fresh spawned process; returns its dict result."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_run_and_report, args=(fn, queue, *args))
    proc.start()
    result = queue.get()
    proc.join()
    if "error" in result:
        raise RuntimeError(result["error"])
    return result


def _run_and_report(fn, queue, *args):
    try:
        result = fn(*args)
        result.setdefault(f"{fn.__name__.strip('_')}_peak_rss_mb", memory.peak_rss_mb())
    except Exception as e:  # Reported to the parent, which re-raises.
        result = {"error": f"{type(e).__name__}: {e}"}
    queue.put(result)


def _preprocess(data_dir: str) -> dict:
    from official.recommendation.data import movielens_implicit

    shutil.rmtree(movielens_implicit.cache_dir(data_dir, movielens.SYNTHETIC,
                                              NUM_EVAL_NEGATIVES, 0), ignore_errors=True)
    start = time.perf_counter()
    data = movielens_implicit.load_movielens(data_dir, movielens.SYNTHETIC, NUM_EVAL_NEGATIVES, 0)
    return {"preprocess_s": time.perf_counter() - start,
            "train_positives": int(len(data.train_users))}


def plain_keras_neumf(num_users: int, num_items: int, learning_rate: float,
                      num_factors: int = 8, layers=(64, 32, 16, 8)):
    """The textbook Keras NeuMF: four Embedding layers, compiled for `fit`."""
    import keras

    init = keras.initializers.RandomNormal(0.0, 0.01)
    user = keras.Input((), dtype="int32", name="user_id")
    item = keras.Input((), dtype="int32", name="item_id")
    mf_u = keras.layers.Embedding(num_users, num_factors, embeddings_initializer=init)(user)
    mf_i = keras.layers.Embedding(num_items, num_factors, embeddings_initializer=init)(item)
    mlp_u = keras.layers.Embedding(num_users, layers[0] // 2, embeddings_initializer=init)(user)
    mlp_i = keras.layers.Embedding(num_items, layers[0] // 2, embeddings_initializer=init)(item)
    x = keras.layers.Concatenate()([mlp_u, mlp_i])
    for units in layers[1:]:
        x = keras.layers.Dense(units, activation="relu")(x)
    gmf = keras.layers.Multiply()([mf_u, mf_i])
    logit = keras.layers.Dense(1, kernel_initializer="lecun_uniform")(
        keras.layers.Concatenate()([gmf, x]))
    model = keras.Model([user, item], logit)
    model.compile(keras.optimizers.Adam(learning_rate),
                  keras.losses.BinaryCrossentropy(from_logits=True))
    return model


def _keras_fit_rate(model, users, items, labels, batch_size: int, seconds: float) -> float:
    """Examples/s of model.fit over about `seconds`, excluding the first 5 batches."""
    import keras

    class Timer(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 4:
                self.start = time.perf_counter()
            if batch > 4:
                self.batches = batch - 4
                self.end = time.perf_counter()
                if self.end - self.start > seconds:
                    self.model.stop_training = True

    timer = Timer()
    n = (len(users) // batch_size) * batch_size
    model.fit({"user_id": users[:n], "item_id": items[:n]}, labels[:n], batch_size=batch_size,
              epochs=1, verbose=0, shuffle=False, callbacks=[timer])
    return timer.batches * batch_size / (timer.end - timer.start)


# The paper's model and recipe (He et al. 2017), beside ncf_main's defaults.
PAPER = {"num_factors": 8, "layers": (64, 32, 16, 8), "lr_schedule": "constant",
         "warmup_epochs": 0.0}
MODEL_SETTINGS = {"ncf_main": {}, "paper": PAPER}


def _train(data_dir: str, scale: str, batch_size: int, learning_rate: float,
           optimizer: str, keras_seconds: float, accuracy_epochs: int,
           full_eval: bool = True, model_settings: str = "ncf_main") -> dict:
    import numpy as np
    import tensorflow as tf

    from official.recommendation.config.configs import TrainConfig
    from official.recommendation.data import movielens_implicit
    from official.recommendation.training.trainer import build_trainer

    stages = {"start": memory.current_rss_mb()}  # resident MiB after each stage
    data = movielens_implicit.load_movielens(data_dir, movielens.SYNTHETIC, NUM_EVAL_NEGATIVES, 0)
    stages["data_loaded"] = memory.current_rss_mb()
    config = TrainConfig(batch_size=batch_size, learning_rate=learning_rate,
                         optimizer=optimizer, **MODEL_SETTINGS[model_settings])
    trainer = build_trainer(data, config)
    stages["trainer_built"] = memory.current_rss_mb()
    out = {"batch_size": batch_size, "learning_rate": learning_rate, "optimizer": optimizer,
           "examples_per_step": trainer.positives_per_step * 5,
           "model_settings": model_settings,
           "timed_config": {k: getattr(config, k) for k in (
               "model_type", "num_factors", "layers", "lr_schedule", "warmup_epochs")}}

    negatives = tf.function(lambda e: trainer.input.epoch_tensors(e)[1])
    negatives(tf.constant(100, tf.int64))
    rates = []
    for epoch in (101, 102, 103):  # the median of three epochs' negatives
        start = time.perf_counter()
        negs = negatives(tf.constant(epoch, tf.int64))
        rates.append(int(tf.size(negs)) / (time.perf_counter() - start))
    out["neg_sampling_per_s"] = sorted(rates)[1]
    stages["negatives_sampled"] = memory.current_rss_mb()

    it = iter(trainer.input.dataset(200, 201))
    next(it)  # waits for the epoch's negatives
    start = time.perf_counter()
    steps = sum(int(element[-1]) for element in it)  # the rest of the epoch
    out["input_examples_per_s"] = steps * out["examples_per_step"] / (
        time.perf_counter() - start)
    stages["input_epoch_read"] = memory.current_rss_mb()
    del negs, it  # Free the measurement's epoch tensors before the training epoch.
    stages["input_freed"] = memory.current_rss_mb()

    # ml-1m: epoch 0 compiles; epochs 1-5 are timed (one epoch is under a
    # second, too short alone on a noisy machine). ml-20m: one epoch, timed
    # after its first call.
    epochs = 6 if scale == "ml-1m" else 1
    marks, epoch_times = [], []
    # The training peak, without the measurements above (their buffers are freed).
    out["train_peak_rss_reset"] = memory.reset_peak_rss()
    for epoch in range(epochs):
        if epoch == min(1, epochs - 1):
            marks.clear()
        epoch_start = time.perf_counter()
        trainer.train_epoch(epoch, lambda n: marks.append((time.perf_counter(), n)),
                            prefetch_until=epochs)
        epoch_times.append(time.perf_counter() - epoch_start)
    out["train_peak_rss_mb"] = memory.peak_rss_mb()  # before the comparison runs below
    stages["trained"] = memory.current_rss_mb()
    out["rss_mb_by_stage"] = {k: round(v) for k, v in stages.items()}
    out["epoch_s"] = sorted(epoch_times[1:])[len(epoch_times[1:]) // 2] if epochs > 1 else (
        epoch_times[0])
    out["epochs_timed"] = max(1, epochs - 1)
    timed = marks[1:] if epochs == 1 else marks
    steps_timed = sum(n for _, n in timed[1:])
    out["train_examples_per_s"] = steps_timed * out["examples_per_step"] / (
        timed[-1][0] - timed[0][0])
    out["train_steps_timed"] = steps_timed
    trainer.evaluate()
    start = time.perf_counter()
    out.update({f"after_{epochs}_epochs_{k}": v for k, v in trainer.evaluate().items()})
    out["eval_s"] = time.perf_counter() - start
    if full_eval:
        start = time.perf_counter()
        out.update({f"after_{epochs}_epochs_{k}": v
                    for k, v in trainer.evaluate(protocol="full").items()})
        out["full_eval_s"] = time.perf_counter() - start

    # Plain model.fit on the same examples (epoch 0's positives and negatives),
    # at most 4M positives: enough for --keras_seconds of fitting.
    perm, negs = trainer.input.epoch_tensors(tf.constant(0, tf.int64))
    perm = perm.numpy()[:min(trainer.num_positives, 4_000_000)]
    pos_users, pos_items = data.train_users[perm], data.train_items[perm]
    users = np.repeat(pos_users, 5)
    items = np.concatenate([pos_items[:, None], negs.numpy()[perm]], axis=1).reshape(-1)
    labels = np.tile(np.array([1, 0, 0, 0, 0], np.float32), len(perm))
    rates = {}
    for bs in sorted({256, batch_size}):
        model = plain_keras_neumf(data.num_users, data.num_items, learning_rate,
                                  config.num_factors, config.layers)
        rates[bs] = _keras_fit_rate(model, users, items, labels, bs, keras_seconds)
    out["keras_fit_examples_per_s"] = {str(k): v for k, v in rates.items()}
    out["keras_fit_examples_per_s_at_256"] = rates[256]
    out["speedup_vs_keras_fit"] = out["train_examples_per_s"] / rates[batch_size]

    if accuracy_epochs:
        for name, settings in {"fast": config, "reference": TrainConfig(
                batch_size=256, learning_rate=0.001, optimizer="adam", **PAPER)}.items():
            t = build_trainer(data, settings)
            start = time.perf_counter()
            for e in range(accuracy_epochs):
                t.train_epoch(e, prefetch_until=accuracy_epochs)
            out[f"{name}_train_s"] = time.perf_counter() - start
            result = t.evaluate()
            out[f"hr_{name}"], out[f"ndcg_{name}"] = result["HR"], result["NDCG"]
        out["accuracy_epochs"] = accuracy_epochs
    return out


def run_benchmark(scale: str, work_dir: str, batch_size: int, learning_rate: float,
                  optimizer: str, keras_seconds: float, accuracy_epochs: int,
                  full_eval: bool = True, model_settings: str = "ncf_main") -> dict:
    """Prepares the data and runs the measurements; returns the JSON-able result."""
    data_dir = os.path.join(work_dir, scale)
    logging.info("Preparing synthetic %s-scale data in %s", scale, data_dir)
    movielens.download(movielens.SYNTHETIC, data_dir, synthetic=SCALES[scale])
    result = {"scale": scale, "cpu_count": os.cpu_count()}
    result.update(_child(_preprocess, data_dir))
    result.update(_child(_train, data_dir, scale, batch_size, learning_rate, optimizer,
                         keras_seconds, accuracy_epochs, full_eval, model_settings))
    result["targets"] = {
        "ml-20m": {"preprocess_s": 20, "preprocess_peak_rss_mb": 3000,
                   "train_peak_rss_mb": 4000, "neg_sampling_per_s": 30e6,
                   "train_examples_per_s": 2e6, "speedup_vs_keras_fit": 3},
        "ml-1m": {"epoch_s": 2.5, "eval_s": 0.3, "neg_sampling_per_s": 30e6,
                  "train_examples_per_s": 2e6, "speedup_vs_keras_fit": 3},
    }[scale]
    return result


def main(_):
    """Runs the benchmark; prints the JSON and writes it to --output."""
    f = flags.FLAGS
    epochs = f.accuracy_epochs if f.accuracy_epochs is not None else (
        4 if f.scale == "ml-1m" else 0)
    optimizer = f.optimizer or ("lazy_adam" if f.scale == "ml-20m" else "adam")
    result = run_benchmark(f.scale, f.work_dir, f.batch_size, f.learning_rate, optimizer,
                           f.keras_seconds, epochs, f.full_eval, f.model_settings)
    logger.emit_benchmark_result(result, f.output)


if __name__ == "__main__":
    fd = flags_core.bind(flags.FLAGS)  # float flags get the shared finite check
    flags.DEFINE_string("output", None, "Write the JSON result to this file.")
    flags.DEFINE_enum("scale", "ml-1m", list(SCALES), "Size of the synthetic data.")
    flags.DEFINE_string("work_dir", "/tmp/ncf-benchmark", "Cache for generated data.")
    flags.DEFINE_integer("batch_size", 16384, "Training batch size (examples per step).")
    fd.DEFINE_float("learning_rate", 0.004, "Adam learning rate at --batch_size.")
    flags.DEFINE_enum("optimizer", None, ["adam", "lazy_adam"],
                      "Optimizer of the fast path (default: adam at ml-1m, lazy_adam at "
                      "ml-20m).")
    fd.DEFINE_float("keras_seconds", 10.0, "Seconds of model.fit per batch size.")
    flags.DEFINE_integer("accuracy_epochs", None,
                         "Epochs of the fast-vs-paper-recipe HR check (default 4 at ml-1m, "
                         "0 at ml-20m).")
    flags.DEFINE_boolean("full_eval", True, "Also time one full-ranking evaluation.")
    flags.DEFINE_enum("model_settings", "ncf_main", list(MODEL_SETTINGS),
                      "The model timed: ncf_main's defaults (TrainConfig) or the paper's (8 "
                      "factors, layers 64,32,16,8, constant learning rate).")
    app.run(main)
