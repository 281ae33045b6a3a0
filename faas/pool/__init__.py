"""Worker processes: starting them, talking to them, keeping them warm in pools."""
