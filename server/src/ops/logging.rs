//! Logs as text or JSON lines, to stderr or a file; filtered by `RUST_LOG`. Colour codes
//! only when writing text to a terminal (and `NO_COLOR` is unset): a file or a pipe gets
//! plain text. Standard output is left to what a command prints for people (the demo's
//! steps and summary).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use clap::{Args, ValueEnum};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Flags every subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct OpsArgs {
    /// TOML file with any of this subcommand's flags (`listen = "0.0.0.0:8080"`);
    /// flags and environment variables win over it.
    #[arg(long, env = "FIELDLOOP_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Log lines as `text` or `json`.
    #[arg(long, env = "FIELDLOOP_LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<LogFormat>,
    /// Append logs to this file instead of stderr (`-` for stderr). `demo` logs to
    /// `<data>/server.log` unless told otherwise.
    #[arg(long, env = "FIELDLOOP_LOG_FILE", global = true)]
    pub log_file: Option<PathBuf>,
}

/// Where logs went, for a command to tell its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    Stderr,
    File(PathBuf),
}

/// Installs the global subscriber. `default_file` is where logs go when no `--log-file`
/// was given (`None`: stderr). Filter: `RUST_LOG`, else `info`.
pub fn init(args: &OpsArgs, default_file: Option<&Path>) -> std::io::Result<LogTarget> {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let format = args.log_format.unwrap_or(LogFormat::Text);
    let file = match args.log_file.as_deref() {
        Some(path) if path == Path::new("-") => None,
        Some(path) => Some(path.to_path_buf()),
        None => default_file.map(Path::to_path_buf),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter());
    match &file {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let out = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            let builder = builder.with_ansi(false).with_writer(Mutex::new(out));
            match format {
                LogFormat::Text => builder.init(),
                LogFormat::Json => builder.json().init(),
            }
            Ok(LogTarget::File(path.clone()))
        }
        None => {
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let builder = builder.with_ansi(colour).with_writer(std::io::stderr);
            match format {
                LogFormat::Text => builder.init(),
                LogFormat::Json => builder.json().init(),
            }
            Ok(LogTarget::Stderr)
        }
    }
}
