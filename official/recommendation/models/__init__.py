"""The recommenders: NeuMF / GMF / MLP, MF, popularity, iALS, EASE, and their registry."""
