//! Criterion benches for poolvc live in `benches/`; this library is empty.
