"""Robot-hand and arm tasks (Shadow Hand, Fetch)."""
