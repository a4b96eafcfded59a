"""The dashboard's widgets: run panes, leaderboard and chart, GPU panel, problem view, bars."""
