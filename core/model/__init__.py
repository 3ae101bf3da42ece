"""The OSVOS network, its losses and its builders."""
