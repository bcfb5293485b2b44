import numpy as np
import pandas as pd

from official.wide_deep import census_dataset as census
from official.wide_deep import census_features as cf

ROWS = census.parse_clean(
    "17,Private,1,11th,7,Never-married,Sales,Own-child,White,Male,0,0,20,United-States,<=50K\n"
    "18,?,1,Bachelors,13,Divorced,Tech-support,Unmarried,Black,Female,5,1,40,India,<=50K\n"
    "66,Self-emp-inc,1,Doctorate,16,Married-civ-spouse,Exec-managerial,Husband,White,Male,"
    "99999,0,60,United-States,>50K\n"
    "40,Unknown-class,1,Masters,14,Widowed,Sales,Wife,White,Female,0,0,40,?,>50K\n", "rows")


def test_known_bucket_and_vocabulary_ids():
    out = cf.CensusFeatures()(cf.raw_tensors(ROWS))
    vocab = np.asarray(out["vocab_ids"])
    # Index 0 is out of vocabulary; vocabulary order as in census_dataset.
    assert vocab[:, 0].tolist() == [3, 1, 10, 4]  # 11th, Bachelors, Doctorate, Masters
    assert vocab[:, 1].tolist() == [4, 2, 1, 7]  # marital status
    assert vocab[:, 3].tolist() == [2, 6, 7, 0]  # workclass: "Unknown-class" -> OOV
    assert vocab[:, 4].tolist() == [1, 2, 1, 2]  # gender
    assert vocab[:, 5].tolist() == [1, 2, 1, 1]  # race
    # capital_gain 0, 5, 99999, 0 and capital_loss 0, 1, 0, 0: zero is bucket 0.
    assert vocab[:, 6].tolist() == [0, 1, 13, 0] and vocab[:, 7].tolist() == [0, 1, 0, 0]
    wide = np.asarray(out["wide_ids"]) - cf.WIDE_OFFSETS
    assert wide[:, 7].tolist() == [0, 1, 10, 5]  # age buckets: <18, [18,25), >=65, [40,45)
    assert wide[:, 12].tolist() == [1, 4, 8, 4]  # hours 20, 40, 60, 40 (bounds 20 ... 60)
    assert vocab.shape == (4, len(cf.ONE_HOT_SIZES)) and (vocab < cf.ONE_HOT_SIZES).all()
    assert ((wide >= 0) & (wide < np.array(cf.WIDE_SIZES))).all()
    assert np.asarray(out["wide_ids"]).max() < cf.WIDE_VOCAB


def test_crosses_and_hash_are_deterministic_functions_of_their_inputs():
    out = np.asarray(cf.CensusFeatures()(cf.raw_tensors(ROWS))["wide_ids"]) - cf.WIDE_OFFSETS
    # Rows 0 and 3 share occupation (Sales) but not education: same hash, other crosses.
    assert out[0, 6] == out[3, 6]
    assert out[0, 8] != out[3, 8]
    assert out[0, 13] != out[3, 13]  # native countries United-States and ?
    again = np.asarray(cf.CensusFeatures()(cf.raw_tensors(ROWS))["wide_ids"]) - cf.WIDE_OFFSETS
    np.testing.assert_array_equal(out, again)
    swapped = ROWS.copy()
    swapped.loc[0, "age"] = 19  # another age bucket changes only the 3-way cross
    moved = np.asarray(cf.CensusFeatures()(cf.raw_tensors(swapped))["wide_ids"]) - cf.WIDE_OFFSETS
    assert (moved[0] != out[0]).tolist() == [False] * 7 + [True, False, True] + [False] * 4


def test_numeric_standardized_with_training_statistics():
    layer = cf.fit_features(ROWS)
    numeric = np.asarray(layer(cf.raw_tensors(ROWS))["numeric"])
    np.testing.assert_allclose(numeric.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(numeric.std(axis=0), 1, atol=1e-4)
    clone = cf.CensusFeatures.from_config(layer.get_config())
    np.testing.assert_allclose(np.asarray(clone(cf.raw_tensors(ROWS))["numeric"]), numeric)
    assert cf.labels(ROWS).tolist() == [0, 0, 1, 1]
    assert isinstance(ROWS, pd.DataFrame)
