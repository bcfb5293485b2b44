"""The end of `--model auto`: the winner refitted on train + validation, tested once, exported.

Refit decision (README, "--model auto"): the winner is always refitted on
train + validation for its selected number of epochs before it is tested
and exported. Under leave-last-out the validation positive is each user's
latest training interaction, the one most like the test item that follows
it; our iALS and EASE recipes were chosen with this refit on validation,
and Rendle et al. (2020) evaluate the same way. Only this step reads the
test set, once, after the search has chosen.
"""

import dataclasses
import time
from typing import Any

from official.recommendation import ncf_flags
from official.recommendation.training import task as task_lib
from official.utils import retraining
from official.utils.misc import saved_model_export


@dataclasses.dataclass
class FinalFit:
    """The refitted winner: its test metrics (None when not read), timing."""

    test: dict[str, float] | None
    epochs: int
    seconds: float


def refit_and_export(settings: dict[str, Any], epochs: int, export_dir: str | None
                     ) -> FinalFit:
    """Refits `settings` on train + validation for `epochs`, evaluates the test set, exports.

    Args:
      settings: every ncf_main flag's value for the winner (validation on;
        `evaluate_test` says whether the test set is read).
      epochs: the winner's selected epoch.
      export_dir: where the SavedModel goes, or None.
    """
    start = time.perf_counter()
    config = ncf_flags.config(settings)
    task = task_lib.NCFTask.build(config)  # the data again, now with the test set
    refit = retraining.retrain(task, epochs)
    test = refit.evaluate_test()
    if export_dir:
        saved_model_export.export_to(export_dir, refit.export,
                                     settings.get("export_versioned", False))
    return FinalFit(test, epochs, time.perf_counter() - start)
