//! Logging with `tracing`: text or JSON on stderr, and a level the Admin API can change.

use std::sync::Arc;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, EnvFilter};

use crate::config::LogFormat;
use crate::core::LogLevelSetter;

/// Janus's debug levels (0 none … 7 everything) as a tracing filter.
pub fn filter_for(level: u8) -> EnvFilter {
    let l = match level {
        0 => "off",
        1 | 2 => "error",
        3 => "warn",
        4 => "info",
        5 | 6 => "debug",
        _ => "trace",
    };
    // str0m is chatty below info; it follows only from level 6 up.
    let dep = if level >= 6 { l } else { "warn" };
    EnvFilter::new(format!(
        "{l},str0m={dep},is={dep},dimpl={dep},hyper={dep},tungstenite={dep}"
    ))
}

/// Installs the global subscriber; returns how to change the level later.
pub fn init(level: u8, format: LogFormat) -> LogLevelSetter {
    let (filter, handle) = reload::Layer::new(filter_for(level));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Text => registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .try_init(),
        LogFormat::Json => registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init(),
    };
    if let Err(e) = result {
        eprintln!("logging already initialised: {e}");
    }
    Arc::new(move |level| {
        let _ = handle.reload(filter_for(level));
    })
}
