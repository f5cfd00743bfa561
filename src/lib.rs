//! The composition root: configuration, TLS, wiring and shutdown.
