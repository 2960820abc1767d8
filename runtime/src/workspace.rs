//! Named shared-memory workspaces.
