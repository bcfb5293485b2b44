"""How models learn: trainers, the run loop's task, optimizers, schedules, pretraining."""
