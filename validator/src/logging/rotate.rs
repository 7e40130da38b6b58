//! A log file rotated by size, as Lighthouse's `--logfile-max-size`,
//! `--logfile-max-number` and `--logfile-compress` describe: when the file
//! would pass its size, it becomes `FILE.1` (`FILE.1.gz` compressed), older
//! ones shift up, and the oldest beyond the count is deleted. Files are
//! created 0600 unless asked otherwise.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How the file rotates.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// Rotate before the file would pass this many bytes (at least one line is kept).
    pub max_bytes: u64,
    /// Rotated files kept (`FILE.1` .. `FILE.N`).
    pub max_number: usize,
    /// gzip rotated files.
    pub compress: bool,
    /// Mode of created files (0600 by default).
    pub mode: u32,
}

struct Open {
    file: File,
    size: u64,
}

/// The writer; shared by the logging threads.
pub struct RotatingFile {
    path: PathBuf,
    rotation: Rotation,
    /// Invariant: `size` is the length of `file`, which is open on `path`.
    open: Mutex<Open>,
}

fn open_append(path: &Path, mode: u32) -> io::Result<Open> {
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    let file = opts.open(path)?;
    let size = file.metadata()?.len();
    Ok(Open { file, size })
}

fn numbered(path: &Path, n: usize, gz: bool) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}{}", if gz { ".gz" } else { "" }));
    PathBuf::from(s)
}

impl RotatingFile {
    /// Opens (appends to) `path`, creating it and its directory.
    pub fn open(path: &Path, rotation: Rotation) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let open = open_append(path, rotation.mode)?;
        Ok(Self { path: path.to_path_buf(), rotation, open: Mutex::new(open) })
    }

    fn rotate(&self, open: &mut Open) -> io::Result<()> {
        let gz = self.rotation.compress;
        let n = self.rotation.max_number.max(1);
        let _ = std::fs::remove_file(numbered(&self.path, n, gz));
        for i in (1..n).rev() {
            let from = numbered(&self.path, i, gz);
            if from.exists() {
                std::fs::rename(&from, numbered(&self.path, i + 1, gz))?;
            }
        }
        open.file.flush()?;
        if gz {
            let mut input = File::open(&self.path)?;
            let out = numbered(&self.path, 1, true);
            let mut opts = OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(self.rotation.mode);
            }
            let mut enc = flate2::write::GzEncoder::new(opts.open(&out)?, flate2::Compression::default());
            io::copy(&mut input, &mut enc)?;
            enc.finish()?.sync_all()?;
            std::fs::remove_file(&self.path)?;
        } else {
            std::fs::rename(&self.path, numbered(&self.path, 1, false))?;
        }
        *open = open_append(&self.path, self.rotation.mode)?;
        Ok(())
    }

    fn write_record(&self, buf: &[u8]) -> io::Result<usize> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.size > 0 && open.size + buf.len() as u64 > self.rotation.max_bytes {
            // A failed rotation keeps logging into the current file.
            if let Err(e) = self.rotate(&mut open) {
                let _ = writeln!(io::stderr(), "poolvc: rotating log file {}: {e}", self.path.display());
            }
        }
        open.file.write_all(buf)?;
        open.size += buf.len() as u64;
        Ok(buf.len())
    }
}

/// One write of the file (a log record).
pub struct RecordWriter<'a>(&'a RotatingFile);

impl Write for RecordWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_record(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RotatingFile {
    type Writer = RecordWriter<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        RecordWriter(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn rotates_by_size_keeps_the_count_and_compresses() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("logs/vc.log");
        let r =
            RotatingFile::open(&path, Rotation { max_bytes: 100, max_number: 2, compress: true, mode: 0o600 }).unwrap();
        let line = [b'x'; 59];
        for i in 0..7u8 {
            let mut l = line.to_vec();
            l[0] = b'0' + i;
            l.push(b'\n');
            r.write_record(&l).unwrap();
        }
        // 7 lines of 60 bytes, one per file: the newest in the file, two rotated.
        assert_eq!(std::fs::read(&path).unwrap()[0], b'6');
        let mut first = String::new();
        flate2::read::GzDecoder::new(File::open(numbered(&path, 1, true)).unwrap()).read_to_string(&mut first).unwrap();
        assert!(first.starts_with('5'), "{first}");
        assert!(numbered(&path, 2, true).exists());
        assert!(!numbered(&path, 3, true).exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
