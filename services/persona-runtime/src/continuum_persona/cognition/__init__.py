"""The cognition pipeline: perceive -> decide -> coordinate -> generate -> act -> learn."""
