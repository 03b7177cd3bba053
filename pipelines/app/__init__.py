"""The application layer: headless runs on top of the library and the definitions."""
