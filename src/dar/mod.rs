//! DAR files: reading the manifest and every package id from the archives themselves.
