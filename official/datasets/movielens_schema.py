"""Names and constants of the normalized MovieLens layout.

Every dataset is normalized to `<data_dir>/<dataset>/ratings.csv` (header
`user_id,item_id,rating,timestamp`) and `<data_dir>/<dataset>/movies.csv`
(header `item_id,titles,genres`, genres `|`-joined names from `GENRES`).
"""

ML_100K = "ml-100k"
ML_1M = "ml-1m"
ML_20M = "ml-20m"
ML_25M = "ml-25m"
ML_LATEST_SMALL = "ml-latest-small"
SYNTHETIC = "synthetic"

DATASETS = [ML_1M, ML_20M, ML_100K, ML_25M, ML_LATEST_SMALL, SYNTHETIC]
# What the CLI downloads when no --dataset is given (as the 2018 code did).
DEFAULT_DATASETS = [ML_1M, ML_20M]

# Raw layouts inside the GroupLens zips.
LAYOUT_DAT = "dat"  # ml-1m: `::`-separated, latin-1, no header.
LAYOUT_100K = "100k"  # ml-100k: u.data (tabs) + u.item (`|`, 19 genre flags).
LAYOUT_CSV = "csv"  # ml-20m, ml-25m, ml-latest-small: CSV with header.
LAYOUTS = {
    ML_100K: LAYOUT_100K,
    ML_1M: LAYOUT_DAT,
    ML_20M: LAYOUT_CSV,
    ML_25M: LAYOUT_CSV,
    ML_LATEST_SMALL: LAYOUT_CSV,
    SYNTHETIC: LAYOUT_CSV,
}

# Raw members each layout needs, relative to the zip's top folder.
RAW_MEMBERS = {
    LAYOUT_CSV: ("ratings.csv", "movies.csv"),
    LAYOUT_DAT: ("ratings.dat", "movies.dat"),
    LAYOUT_100K: ("u.data", "u.item"),
}

# Largest uncompressed member a GroupLens zip of the dataset may hold: its
# largest file (ratings) times 4, at least 64 MiB. Known sizes: ml-100k
# u.data 2.0 MB, ml-1m ratings.dat 24.6 MB, ml-20m ratings.csv 533 MB, ml-25m
# ratings.csv 678 MB, ml-latest-small ratings.csv 2.5 MB. A member beyond it,
# or expanding more than MAX_COMPRESSION_RATIO times, is refused and the zip
# removed (the synthetic dataset is generated here and not limited).
MAX_MEMBER_BYTES = {
    ML_100K: 64 << 20,
    ML_1M: 128 << 20,
    ML_20M: 2200 << 20,
    ML_25M: 2800 << 20,
    ML_LATEST_SMALL: 64 << 20,
}
MAX_COMPRESSION_RATIO = 50.0

RATINGS_FILE = "ratings.csv"
MOVIES_FILE = "movies.csv"
MANIFEST_FILE = "manifest.json"

USER_COLUMN = "user_id"
ITEM_COLUMN = "item_id"
RATING_COLUMN = "rating"
TIMESTAMP_COLUMN = "timestamp"
TITLE_COLUMN = "titles"
GENRE_COLUMN = "genres"

RATING_COLUMNS = [USER_COLUMN, ITEM_COLUMN, RATING_COLUMN, TIMESTAMP_COLUMN]
MOVIE_COLUMNS = [ITEM_COLUMN, TITLE_COLUMN, GENRE_COLUMN]

GENRES = [
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical",
    "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]
N_GENRE = len(GENRES)
# Raw genre names that differ from `GENRES`.
GENRE_ALIASES = {"Children's": "Children"}
# Written for a movie with no genre from `GENRES`.
NO_GENRE = "(no genres listed)"

# The 19 genre flag columns of ml-100k's u.item, in file order.
ML_100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
]

MAX_RATING = 5
