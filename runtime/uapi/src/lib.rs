//! Linux UAPI bindings (placeholder until generated).
