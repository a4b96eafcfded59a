"""Screens: the dashboard, the start screen, and the modal ones (help, quit, summary, error)."""
