"""NCF, iALS, EASE and the other implicit-feedback models; `train(**flags)` runs one from Python."""


def train(**settings) -> dict:
    """`official.recommendation.api.train`: ncf_main's run, with its flags as keywords."""
    from official.recommendation.api import train as train_with_flags

    return train_with_flags(**settings)
