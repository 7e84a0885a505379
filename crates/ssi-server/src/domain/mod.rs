//! Pure rules of the service: no I/O, no clock, no randomness of its own.
