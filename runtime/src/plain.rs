//! Plain-old-data marker for types that may live in shared memory.
