//! Deal terms and the manifest.
