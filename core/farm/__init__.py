"""Farm rendering: self-contained model files, frame ranges, chunks rendered locally or on Ray."""
