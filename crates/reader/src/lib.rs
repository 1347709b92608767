//! Kiln reader (placeholder until the reader lands).
