"""Ranking metrics: sampled and full-ranking HR / NDCG, coverage, the evaluator."""
