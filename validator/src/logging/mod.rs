//! The client's logs, as Lighthouse's log flags set them: the level
//! (`--debug-level`, or `RUST_LOG` when set), plain text or one JSON object
//! per line (`--log-format JSON`), colours only on a terminal unless
//! `--log-color`, timestamps unless `--disable-log-timestamp`; and a second,
//! rotated file (`--logfile` and its flags) with its own level and format,
//! never coloured.

pub mod rotate;

use crate::lighthouse::args::{LogFormat, LogLevel, VcArgs};
use std::io::IsTerminal;
use std::path::PathBuf;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// Errors setting up the logs.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// The log file could not be opened.
    #[error("--logfile {}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The log file's settings.
#[derive(Debug, Clone)]
pub struct FileLog {
    /// The file.
    pub path: PathBuf,
    /// Its level.
    pub level: LogLevel,
    /// Its format.
    pub format: LogFormat,
    /// Rotation.
    pub rotation: rotate::Rotation,
}

/// The log settings.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Terminal level.
    pub level: LogLevel,
    /// Terminal format.
    pub format: LogFormat,
    /// Colours (`None`: when standard error is a terminal).
    pub color: Option<bool>,
    /// Timestamps on each line.
    pub timestamps: bool,
    /// The log file, if any.
    pub file: Option<FileLog>,
}

impl LogConfig {
    /// The settings of `poolvc vc`'s flags.
    pub fn from_args(a: &VcArgs) -> Self {
        let file = a.logfile.as_ref().filter(|_| a.logfile_max_number > 0).map(|path| FileLog {
            path: path.clone(),
            level: a.logfile_debug_level,
            format: a.logfile_format.unwrap_or(LogFormat::Default),
            rotation: rotate::Rotation {
                max_bytes: a.logfile_max_size.saturating_mul(1024 * 1024).max(1),
                max_number: a.logfile_max_number,
                compress: a.logfile_compress,
                mode: if a.logfile_no_restricted_perms { 0o644 } else { 0o600 },
            },
        });
        Self {
            level: a.debug_level,
            format: a.log_format.unwrap_or(LogFormat::Default),
            color: a.log_color,
            timestamps: !a.disable_log_timestamp,
            file,
        }
    }
}

fn directive(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Trace => "trace",
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error | LogLevel::Crit => "error",
    }
}

/// A filter at `level` for poolvc's own crates; other crates (HTTP
/// clients, the database drivers) at `warn` unless tracing.
fn filter(level: LogLevel) -> EnvFilter {
    let own = directive(level);
    let others = if level == LogLevel::Trace { "debug" } else { "warn" };
    EnvFilter::new(format!("{others},poolvc={own},poolvc_signer={own}"))
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

fn layer<W>(writer: W, format: LogFormat, ansi: bool, timestamps: bool, filter: EnvFilter) -> BoxedLayer
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let base = tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(ansi);
    match (format, timestamps) {
        (LogFormat::Json, true) => base.json().flatten_event(true).with_filter(filter).boxed(),
        (LogFormat::Json, false) => base.json().flatten_event(true).without_time().with_filter(filter).boxed(),
        (LogFormat::Default, true) => base.with_filter(filter).boxed(),
        (LogFormat::Default, false) => base.without_time().with_filter(filter).boxed(),
    }
}

/// Installs the logs. `RUST_LOG`, when set, replaces the terminal's level.
pub fn init(cfg: &LogConfig) -> Result<(), LoggingError> {
    let ansi = cfg.color.unwrap_or_else(|| std::io::stderr().is_terminal()) && cfg.format == LogFormat::Default;
    let terminal_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| filter(cfg.level));
    let mut layers: Vec<BoxedLayer> = vec![layer(std::io::stderr, cfg.format, ansi, cfg.timestamps, terminal_filter)];
    if let Some(f) = &cfg.file {
        let file = rotate::RotatingFile::open(&f.path, f.rotation.clone())
            .map_err(|source| LoggingError::File { path: f.path.clone(), source })?;
        layers.push(layer(file, f.format, false, true, filter(f.level)));
    }
    // A second initialisation (tests in one process) keeps the first.
    let _ = tracing_subscriber::registry().with(layers).try_init();
    Ok(())
}
