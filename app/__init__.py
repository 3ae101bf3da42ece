"""Rotoshot desktop application (PySide6): views, controllers and the engine thread."""
