"""Event sources that invoke functions: file drops, schedules, the async queue."""
