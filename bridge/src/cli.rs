//! Command-line options, named after Janus's where the meaning matches.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::config::{Config, ConfigError, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "cardea",
    version,
    about = "Cardea: a SIP-centric WebRTC gateway speaking the Janus API"
)]
pub struct Cli {
    /// Configuration file (YAML). Without it the built-in defaults apply.
    #[arg(short = 'C', long = "config")]
    pub config: Option<PathBuf>,
    /// Check the configuration, print the result and exit.
    #[arg(long = "check-config")]
    pub check_config: bool,
    /// Log level, 0 (none) to 7 (everything), as Janus's.
    #[arg(short = 'd', long = "debug-level")]
    pub debug_level: Option<u8>,
    /// Log format: text or json.
    #[arg(long = "log-format")]
    pub log_format: Option<String>,
    /// API secret every request must carry (`apisecret`).
    #[arg(short = 'a', long = "apisecret")]
    pub apisecret: Option<String>,
    /// Require stored tokens (`token`), managed with the Admin API.
    #[arg(short = 'A', long = "token-auth")]
    pub token_auth: bool,
    /// Secret of the Admin API.
    #[arg(long = "admin-secret")]
    pub admin_secret: Option<String>,
    /// Session timeout in seconds (0 disables).
    #[arg(short = 's', long = "session-timeout")]
    pub session_timeout: Option<u64>,
    /// UDP ports for media, MIN-MAX: shard N uses MIN+N.
    #[arg(short = 'r', long = "rtp-port-range")]
    pub rtp_port_range: Option<String>,
    /// Addresses to advertise in candidates (comma separated), e.g. a public address
    /// in front of a 1:1 NAT.
    #[arg(short = '1', long = "nat-1-1", value_delimiter = ',')]
    pub nat_1_1: Vec<IpAddr>,
    /// ICE-lite (the default; full ICE is not offered yet).
    #[arg(short = 'I', long = "ice-lite")]
    pub ice_lite: bool,
    /// Address the media sockets bind to.
    #[arg(short = 'i', long = "interface")]
    pub interface: Option<IpAddr>,
}

impl Cli {
    /// Loads the file (or defaults), the environment, then these options, and validates.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let base = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        let mut c = base.apply_env(std::env::vars())?;
        if let Some(l) = self.debug_level {
            c.general.debug_level = l;
        }
        if let Some(f) = &self.log_format {
            c.general.log_format = match f.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    return Err(ConfigError::Invalid(format!(
                        "--log-format takes text or json, not {other}"
                    )))
                }
            };
        }
        if let Some(s) = &self.apisecret {
            c.general.api_secret = Some(s.clone());
        }
        if self.token_auth {
            c.general.token_auth = true;
        }
        if let Some(s) = &self.admin_secret {
            c.general.admin_secret = Some(s.clone());
        }
        if let Some(t) = self.session_timeout {
            c.general.session_timeout = t;
        }
        if let Some(range) = &self.rtp_port_range {
            let parsed = range.split_once('-').and_then(|(a, b)| {
                Some((a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?))
            });
            let Some((min, max)) = parsed.filter(|(a, b)| a <= b) else {
                return Err(ConfigError::Invalid(format!(
                    "--rtp-port-range takes MIN-MAX, not {range}"
                )));
            };
            let ports = usize::from(max - min) + 1;
            if ports < c.media.shards {
                return Err(ConfigError::Invalid(format!(
                    "--rtp-port-range {range} has {ports} ports for {} media shards",
                    c.media.shards
                )));
            }
            c.media.port = min;
        }
        if !self.nat_1_1.is_empty() {
            c.media.advertise = self.nat_1_1.clone();
        }
        if self.ice_lite {
            c.media.ice_lite = true;
        }
        if let Some(i) = self.interface {
            c.media.bind = i;
        }
        c.source = self.config.clone();
        c.validate()?;
        Ok(c)
    }
}
