//! The four file operations the writer needs, behind a trait so that tests can inject failures
//! and simulate power loss.

use std::fs::File;
use std::io::{self, Write};

/// Where the journal writer puts its bytes. Writes always append at the end.
pub trait Storage: Send {
    /// Appends `buf` completely (or fails).
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Makes the written data durable (`fdatasync`).
    fn sync_data(&mut self) -> io::Result<()>;
    /// Cuts the file to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Makes data and metadata durable (`fsync`).
    fn sync_all(&mut self) -> io::Result<()>;
}

/// [`Storage`] over a real file, which must have been opened in append mode.
#[derive(Debug)]
pub struct FileStorage {
    file: File,
}

impl FileStorage {
    /// Wraps a file opened with `append(true)`.
    pub fn new(file: File) -> FileStorage {
        FileStorage { file }
    }

    /// The underlying file.
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl Storage for FileStorage {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.file.sync_all()
    }
}
