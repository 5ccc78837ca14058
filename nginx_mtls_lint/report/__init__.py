"""Reporters: turn findings (and the model, for `inspect`) into output. No parsing here."""
