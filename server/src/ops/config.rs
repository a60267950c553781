//! Configuration by file, environment and flags, in that order of strength:
//! a flag beats its environment variable (`FIELDLOOP_…`), which beats the TOML file given
//! by `--config` / `FIELDLOOP_CONFIG`, which beats the built-in default.
//!
//! The file's keys are the subcommand's long flags (`listen = "0.0.0.0:8443"`,
//! `data = "/var/lib/fieldloop"`, `log-format = "json"`, dashes or underscores alike),
//! so every flag, present or added later, can be set in it without more code here. A key
//! that is no flag of the subcommand being run is an error, not silently ignored.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgAction, Parser};

/// Parses the command line, filling every flag given neither on the command line nor in
/// the environment from the config file. Exits with clap's message on bad input.
pub fn parse<C: Parser>() -> C {
    let args: Vec<OsString> = std::env::args_os().collect();
    match parse_from::<C>(args) {
        Ok(cli) => cli,
        Err(ConfigError::Clap(e)) => e.exit(),
        Err(ConfigError::File(message)) => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
    }
}

#[derive(Debug)]
pub enum ConfigError {
    Clap(clap::Error),
    File(String),
}

/// [`parse`] on given arguments (the first is the program name).
pub fn parse_from<C: Parser>(args: Vec<OsString>) -> Result<C, ConfigError> {
    let mut command = C::command();
    // Global flags (--config, --log-format) show in subcommands only once built.
    command.build();
    let matches = command
        .clone()
        .try_get_matches_from(&args)
        .map_err(ConfigError::Clap)?;
    let Some((name, sub)) = matches.subcommand() else {
        return C::from_arg_matches(&matches).map_err(ConfigError::Clap);
    };
    let config = sub.try_get_one::<PathBuf>("config").ok().flatten().cloned();
    let Some(path) = config else {
        return C::from_arg_matches(&matches).map_err(ConfigError::Clap);
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ConfigError::File(format!("config file {}: {e}", path.display())))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| ConfigError::File(format!("config file {}: {e}", path.display())))?;
    let subcommand = command
        .find_subcommand(name)
        .expect("clap matched this subcommand");
    let mut extra = Vec::new();
    for (key, value) in &table {
        let id = key.replace('-', "_");
        let Some(arg) = subcommand
            .get_arguments()
            .find(|a| a.get_id().as_str() == id && a.get_long().is_some())
        else {
            return Err(ConfigError::File(format!(
                "config file {}: `{key}` is not a flag of `{name}`",
                path.display()
            )));
        };
        // Given on the command line or in the environment: that wins.
        if matches!(
            sub.value_source(&id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let long = format!("--{}", arg.get_long().expect("checked above"));
        let values = match value {
            toml::Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        for value in values {
            match (value, arg.get_action()) {
                (toml::Value::Boolean(on), ArgAction::SetTrue) => {
                    if *on {
                        extra.push(OsString::from(&long));
                    }
                }
                (toml::Value::String(s), _) => {
                    extra.push(OsString::from(&long));
                    extra.push(OsString::from(s));
                }
                (toml::Value::Integer(_) | toml::Value::Float(_), _) => {
                    extra.push(OsString::from(&long));
                    extra.push(OsString::from(value.to_string()));
                }
                _ => {
                    return Err(ConfigError::File(format!(
                        "config file {}: `{key}` has a value of the wrong kind",
                        path.display()
                    )))
                }
            }
        }
    }
    let mut full = args;
    full.extend(extra);
    C::try_parse_from(full).map_err(ConfigError::Clap)
}
