//! Integration tests live in `tests/tests/`; shared vector paths are here.
