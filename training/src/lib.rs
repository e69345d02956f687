//! Library behind the `cinerec` CLI.
