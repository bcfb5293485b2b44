"""The HTML report of finished ncf_main runs: figures (matplotlib PNGs) and a leaderboard."""
