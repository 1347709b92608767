//! Target-independent machine-code infrastructure.
