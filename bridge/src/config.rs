//! Configuration: built-in defaults (Janus's ports, loopback), an optional YAML file (strict:
//! an unknown key or a wrong type names the file, line and key), `CARDEA_<SECTION>_<KEY>`
//! environment overrides, then Janus-style command-line options.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub general: General,
    pub http: Http,
    pub websocket: WebSocket,
    pub admin: Admin,
    pub media: Media,
    pub sip: Sip,
    pub plugins: Plugins,
    /// The file this configuration came from (not a key): reloads read it again.
    #[serde(skip)]
    pub source: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct General {
    pub server_name: String,
    /// Janus's 0 (none) .. 7 (everything).
    pub debug_level: u8,
    pub log_format: LogFormat,
    /// Seconds without a request before a session times out; 0 disables.
    pub session_timeout: u64,
    /// Seconds a session outlives its WebSocket, waiting for a `claim`; 0 = dies with it.
    pub reclaim_session_timeout: u64,
    pub api_secret: Option<String>,
    pub token_auth: bool,
    /// Tokens accepted from the start (more can be added with the Admin API).
    pub tokens: Vec<String>,
    /// Without it the Admin API answers only `info` and `ping`.
    pub admin_secret: Option<String>,
    pub accept_new_sessions: bool,
    /// Folders no recording may be written in (Janus's `protected_folders`); the default
    /// is Janus's sample list (`/etc`, `/usr`, `/var`...). `[]` protects nothing.
    pub protected_folders: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Http {
    pub enabled: bool,
    pub bind: IpAddr,
    pub port: u16,
    pub base_path: String,
    /// `Access-Control-Allow-Origin`; Janus's default is `*`.
    pub allow_origin: String,
    /// Largest request body accepted, in bytes.
    pub max_body: usize,
    /// Serve the demo pages at `/demos/`.
    pub demos: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSocket {
    pub enabled: bool,
    pub bind: IpAddr,
    pub port: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Admin {
    pub enabled: bool,
    pub bind: IpAddr,
    pub http_port: u16,
    pub base_path: String,
    pub ws_port: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Media {
    /// Address the media sockets bind to.
    pub bind: IpAddr,
    /// UDP port of the first shard; shard N binds `port + N`. 0 = any free port.
    pub port: u16,
    /// Media shard threads (each owns one UDP port and its legs).
    pub shards: usize,
    /// Addresses advertised in candidates (Janus's nat_1_1_mapping). Empty: the bind address,
    /// or 127.0.0.1 when bound to a wildcard.
    pub advertise: Vec<IpAddr>,
    pub ice_lite: bool,
    /// Packets lost per second on a stream that trigger a `slowlink` event; 0 disables
    /// them (Janus's default).
    pub slowlink_threshold: u32,
    /// Receive and send buffer of each media socket, in bytes.
    pub socket_buffer: usize,
    /// DTLS certificate and key (PEM). Unset: a fresh self-signed certificate at start.
    pub dtls_cert: Option<String>,
    pub dtls_key: Option<String>,
    /// Ports of the plain RTP/RTCP pairs toward SIP peers, `"min-max"` (Janus's SIP plugin
    /// `rtp_port_range`); `"0-0"` or empty: any free port.
    pub rtp_port_range: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sip {
    pub enabled: bool,
    pub bind: IpAddr,
    /// 0 = any free port.
    pub udp_port: u16,
    pub tcp_port: u16,
    /// SIP over WebSocket (RFC 7118, subprotocol `sip`) for SIP.js/JsSIP clients; off
    /// unless set (0 = any free port).
    pub ws_port: Option<u16>,
    /// SIP over TLS (RFC 3261 §26; 5061 is conventional); off unless set (0 = any free
    /// port). Needs `tls_cert` and `tls_key`.
    pub tls_port: Option<u16>,
    /// SIP over secure WebSocket (RFC 7118 §5, `wss`); off unless set (0 = any free port).
    /// Uses `tls_cert` and `tls_key` too.
    pub wss_port: Option<u16>,
    /// Certificate chain (PEM, leaf first) for `tls_port` and `wss_port`.
    pub tls_cert: Option<String>,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub tls_key: Option<String>,
    /// CAs (a PEM bundle) trusted for SIP over TLS toward peers (trunks; handles calling
    /// `;transport=tls`). Unset: the system's, /etc/ssl/certs/ca-certificates.crt.
    pub tls_ca: Option<String>,
    /// Digest realm of the registrar.
    pub realm: String,
    /// Domains the registrar serves; empty: the realm.
    pub domains: Vec<String>,
    /// Local users who may register (digest auth); none by default, so nobody can.
    pub users: Vec<SipUser>,
    pub min_expires: u32,
    pub max_expires: u32,
    pub user_agent: String,
    /// Host names resolved without DNS for SIP URIs (RFC 3263 before SRV and A): `name:
    /// ip` or `name: ip:port`.
    pub hosts: std::collections::HashMap<String, String>,
    /// DNS servers (`ip` or `ip:port`) for SIP names (NAPTR, SRV, A/AAAA); empty: the
    /// system's resolver configuration.
    pub dns_servers: Vec<String>,
    /// Trunks to PBXs and carriers: where the dialplan can send calls, and whose calls are
    /// trusted by their source address.
    pub trunks: Vec<SipTrunk>,
    /// The dialplan file (YAML rules; see conf/dialplan.yaml). Unset: a call rings the
    /// local user the Request-URI names, and nothing reaches a trunk.
    pub dialplan: Option<String>,
    /// Failed digest authentications from one address within a minute after which its
    /// requests get 403 without a new challenge (password guessing, toll fraud).
    pub auth_failure_limit: u32,
    /// Seconds between the OPTIONS keep-alives each registered SIP plugin account sends to
    /// its registrar (Janus's `keepalive_interval`); 0: none.
    pub keepalive_interval: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipTrunk {
    /// The name the dialplan uses (`action: { trunk: NAME }`, `from: trunk:NAME`).
    pub name: String,
    /// Where calls to the trunk go: `sip:HOST[:PORT][;transport=tcp]`; HOST an IP address
    /// or a name from sip.hosts.
    pub uri: String,
    /// Source addresses whose requests come from this trunk and are trusted without
    /// digest auth. Default: the address of `uri`.
    #[serde(default)]
    pub inbound: Vec<IpAddr>,
    /// Seconds without any answer (not even 100 Trying) after which a call fails over to
    /// the next trunk.
    #[serde(default = "default_trunk_no_answer")]
    pub no_answer: u64,
    /// Seconds between OPTIONS probes; a trunk that stops answering them is skipped until
    /// it answers again. 0: no probes.
    #[serde(default = "default_trunk_probe")]
    pub probe: u64,
    /// Register with the trunk (a carrier or a PBX that wants its peers registered), with
    /// digest; its calls to the registered Contact are then this trunk's.
    #[serde(default)]
    pub register: Option<TrunkRegister>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkRegister {
    /// The account: the user of the AOR and of our Contact, and the digest user name.
    pub username: String,
    pub password: String,
    /// The AOR's domain. Default: the trunk's host.
    #[serde(default)]
    pub domain: Option<String>,
    /// The registration interval asked for, in seconds (refreshed before it ends).
    #[serde(default = "default_trunk_register_expires")]
    pub expires: u32,
}

fn default_trunk_register_expires() -> u32 {
    600
}

fn default_trunk_no_answer() -> u64 {
    5
}

fn default_trunk_probe() -> u64 {
    30
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipUser {
    pub username: String,
    /// The password, or instead `ha1`: hex MD5 of `username:realm:password`.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub ha1: Option<String>,
    /// Groups for dialplan permissions (`require_group`) and matching (`from: group:NAME`).
    #[serde(default)]
    pub groups: Vec<String>,
}

impl Default for Sip {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: LOOPBACK,
            udp_port: 5060,
            tcp_port: 5060,
            ws_port: None,
            tls_port: None,
            wss_port: None,
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            realm: "cardea".into(),
            domains: Vec::new(),
            users: Vec::new(),
            min_expires: 60,
            max_expires: 3600,
            user_agent: concat!("Cardea/", env!("CARGO_PKG_VERSION")).into(),
            hosts: Default::default(),
            dns_servers: Vec::new(),
            trunks: Vec::new(),
            dialplan: None,
            auth_failure_limit: 20,
            keepalive_interval: 120,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Plugins {
    /// Package names of plugins not to load, e.g. `[janus.plugin.echotest]`.
    pub disable: Vec<String>,
    pub videoroom: VideoRoomPlugin,
    /// `admin_key`, `mountpoints` (each with the fields of a `create` request) and
    /// `permanent_file` (as for the VideoRoom). Unset: mountpoint 1, as in Janus's sample
    /// configuration.
    pub streaming: Option<serde_json::Value>,
    /// `admin_key`, `lock_rtp_forward`, `lock_play_file`, `rooms` (each with the fields
    /// of a `create` request, `room` included) and `permanent_file` (as for the
    /// VideoRoom). Unset: room 1234, as in Janus's sample configuration.
    pub audiobridge: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VideoRoomPlugin {
    /// Rooms that exist from the start, each with the fields of a `create` request
    /// (`room`, `description`, `secret`, `publishers`, `videocodec`...). Unset: room 1234,
    /// as in Janus's sample configuration.
    pub rooms: Option<Vec<serde_json::Value>>,
    /// The state file of permanent rooms (`create`/`edit`/`destroy` with `permanent:
    /// true`), relative to this file's folder. Unset: `videoroom.permanent.yaml` beside
    /// this file (none without a configuration file: permanent requests are refused).
    pub permanent_file: Option<String>,
}

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

impl Default for General {
    fn default() -> Self {
        Self {
            server_name: "Cardea".into(),
            debug_level: 4,
            log_format: LogFormat::Text,
            session_timeout: 60,
            reclaim_session_timeout: 0,
            api_secret: None,
            token_auth: false,
            tokens: Vec::new(),
            admin_secret: None,
            accept_new_sessions: true,
            protected_folders: crate::net::DEFAULT_PROTECTED
                .iter()
                .map(|f| (*f).to_owned())
                .collect(),
        }
    }
}

impl Default for Http {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: LOOPBACK,
            port: 8088,
            base_path: "/janus".into(),
            allow_origin: "*".into(),
            max_body: 1 << 20,
            demos: true,
        }
    }
}

impl Default for WebSocket {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: LOOPBACK,
            port: 8188,
        }
    }
}

impl Default for Admin {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: LOOPBACK,
            http_port: 7088,
            base_path: "/admin".into(),
            ws_port: 7188,
        }
    }
}

impl Default for Media {
    fn default() -> Self {
        Self {
            bind: LOOPBACK,
            port: 10000,
            shards: 1,
            advertise: Vec::new(),
            ice_lite: true,
            socket_buffer: 4 << 20,
            slowlink_threshold: 0,
            dtls_cert: None,
            dtls_key: None,
            rtp_port_range: "20000-40000".into(),
        }
    }
}

impl Config {
    /// Reads a YAML file. Errors name the file, and the line and key where the parser says.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            file: file.clone(),
            message: e.to_string(),
        })?;
        Self::from_yaml(&text).map_err(|message| ConfigError::File { file, message })
    }

    pub fn from_yaml(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_saphyr::from_str::<Config>(text).map_err(|e| e.to_string())
    }

    /// Applies `CARDEA_<SECTION>_<KEY>=value` overrides (value read as a YAML scalar or
    /// flow sequence), e.g. `CARDEA_GENERAL_API_SECRET=s3cret`, `CARDEA_HTTP_PORT=8089`.
    pub fn apply_env(
        self,
        vars: impl Iterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut tree =
            serde_json::to_value(&self).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let mut touched = None;
        for (var, raw) in vars {
            let Some(rest) = var.strip_prefix("CARDEA_") else {
                continue;
            };
            let lower = rest.to_ascii_lowercase();
            let Some(sections) = tree.as_object_mut() else {
                break;
            };
            let Some((section, key)) = sections
                .keys()
                .find(|s| lower.starts_with(&format!("{s}_")))
                .cloned()
                .map(|s| {
                    let key = lower[s.len() + 1..].to_owned();
                    (s, key)
                })
            else {
                // Not a configuration variable (tests and tools use CARDEA_* too).
                continue;
            };
            let Some(fields) = sections.get_mut(&section).and_then(Value::as_object_mut) else {
                continue;
            };
            if !fields.contains_key(&key) {
                return Err(ConfigError::Env {
                    var,
                    message: format!("section {section} has no key {key}"),
                });
            }
            let value: Value = serde_saphyr::from_str(&raw).unwrap_or(Value::String(raw.clone()));
            fields.insert(key, value);
            touched = Some(var);
        }
        match touched {
            None => Ok(self),
            Some(var) => serde_json::from_value(tree).map_err(|e| ConfigError::Env {
                var,
                message: e.to_string(),
            }),
        }
    }

    /// Checks what types cannot: consistent values.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.general.debug_level > 7 {
            return Err(ConfigError::Invalid(format!(
                "general.debug_level must be 0..7, not {}",
                self.general.debug_level
            )));
        }
        if self.media.shards == 0 || self.media.shards > 64 {
            return Err(ConfigError::Invalid(
                "media.shards must be between 1 and 64".into(),
            ));
        }
        if self.media.dtls_cert.is_some() != self.media.dtls_key.is_some() {
            return Err(ConfigError::Invalid(
                "media.dtls_cert and media.dtls_key go together".into(),
            ));
        }
        if let Err(e) = crate::net::parse_port_range(&self.media.rtp_port_range) {
            return Err(ConfigError::Invalid(format!("media.rtp_port_range: {e}")));
        }
        for (name, path) in [
            ("http.base_path", &self.http.base_path),
            ("admin.base_path", &self.admin.base_path),
        ] {
            if !path.starts_with('/') || path.len() < 2 || path.ends_with('/') {
                return Err(ConfigError::Invalid(format!(
                    "{name} must look like /janus, not {path:?}"
                )));
            }
        }
        for u in &self.sip.users {
            if u.password.is_some() == u.ha1.is_some() {
                return Err(ConfigError::Invalid(format!(
                    "sip.users {}: give exactly one of password and ha1",
                    u.username
                )));
            }
        }
        if let Some(rooms) = &self.plugins.videoroom.rooms {
            cardea_plugins::videoroom::VideoRoom::with_rooms(rooms)
                .map_err(|e| ConfigError::Invalid(format!("plugins.videoroom.rooms: {e}")))?;
        }
        cardea_plugins::streaming::Settings::parse(self.plugins.streaming.as_ref())
            .map_err(|e| ConfigError::Invalid(format!("plugins.streaming: {e}")))?;
        let audiobridge =
            cardea_plugins::audiobridge::Settings::parse(self.plugins.audiobridge.as_ref())
                .map_err(|e| ConfigError::Invalid(format!("plugins.audiobridge: {e}")))?;
        if let Some(path) = &audiobridge.pin_prompt {
            // The prompt must be playable, as `play_file` reads it (Ogg/Opus).
            crate::net::load_file(path, "opus").map_err(|e| {
                ConfigError::Invalid(format!("plugins.audiobridge.pin_prompt {path:?}: {e}"))
            })?;
        }
        // The state files of permanent rooms and mountpoints must read too.
        crate::permanent::load_all(self)?;
        self.validate_sip_tls()?;
        if self.sip.enabled {
            let base = self.source.as_deref().and_then(Path::parent);
            crate::sip::routing::Routing::from_config(&self.sip, base)
                .map_err(ConfigError::Invalid)?;
        }
        Ok(())
    }

    /// `sip.tls_port` and `sip.wss_port` need `sip.tls_cert` and `sip.tls_key`, and the
    /// files must hold a certificate and its key (checked here so `--check-config` says so).
    fn validate_sip_tls(&self) -> Result<(), ConfigError> {
        let sip = &self.sip;
        if let (true, Some(ca)) = (sip.enabled, &sip.tls_ca) {
            crate::sip::tls::connector(Some(ca)).map_err(ConfigError::Invalid)?;
        }
        let user = match (sip.tls_port, sip.wss_port) {
            (Some(_), _) => "sip.tls_port",
            (None, Some(_)) => "sip.wss_port",
            (None, None) => return Ok(()),
        };
        if !sip.enabled {
            return Ok(());
        }
        let (Some(cert), Some(key)) = (&sip.tls_cert, &sip.tls_key) else {
            let missing = if sip.tls_cert.is_none() {
                "sip.tls_cert"
            } else {
                "sip.tls_key"
            };
            return Err(ConfigError::Invalid(format!(
                "{missing} is required when {user} is set (a PEM file path)"
            )));
        };
        crate::sip::tls::server_config(cert, key)
            .map(|_| ())
            .map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    /// The addresses put in host candidates.
    pub fn advertised(&self) -> Vec<IpAddr> {
        if !self.media.advertise.is_empty() {
            return self.media.advertise.clone();
        }
        if self.media.bind.is_unspecified() {
            vec![LOOPBACK]
        } else {
            vec![self.media.bind]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_file_means_janus_ports_on_loopback() {
        let c = Config::from_yaml("").unwrap();
        assert_eq!(c.http.port, 8088);
        assert_eq!(c.websocket.port, 8188);
        assert_eq!(c.admin.http_port, 7088);
        assert_eq!(c.admin.ws_port, 7188);
        assert_eq!(c.http.bind, LOOPBACK);
        assert_eq!(c.advertised(), vec![LOOPBACK]);
    }

    #[test]
    fn unknown_key_is_an_error_with_its_line() {
        let err =
            Config::from_yaml("general:\n  session_timeout: 5\n  sesion_timeout: 9\n").unwrap_err();
        assert!(err.contains("sesion_timeout"), "{err}");
        assert!(err.contains('3'), "names line 3: {err}");
    }

    #[test]
    fn wrong_type_is_an_error_naming_the_key() {
        let err = Config::from_yaml("http:\n  port: eighty\n").unwrap_err();
        assert!(err.contains("2"), "names line 2: {err}");
    }

    #[test]
    fn environment_overrides_a_key() {
        let c = Config::default()
            .apply_env(
                [
                    ("CARDEA_GENERAL_API_SECRET".to_string(), "s3".to_string()),
                    ("CARDEA_HTTP_PORT".to_string(), "9000".to_string()),
                ]
                .into_iter(),
            )
            .unwrap();
        assert_eq!(c.general.api_secret.as_deref(), Some("s3"));
        assert_eq!(c.http.port, 9000);
        let bad = Config::default()
            .apply_env([("CARDEA_HTTP_PROT".to_string(), "1".to_string())].into_iter());
        assert!(
            bad.is_err(),
            "a typo in a key of a known section is an error"
        );
        let other = Config::default()
            .apply_env([("CARDEA_SCREENSHOT".to_string(), "x".to_string())].into_iter());
        assert!(other.is_ok(), "variables of no section are not ours");
    }

    #[test]
    fn a_bad_audiobridge_room_is_refused_at_load_naming_it() {
        let c = Config::from_yaml(
            "plugins:\n  audiobridge:\n    rooms:\n      - room: 5\n        sampling_rate: 44100\n",
        )
        .unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("plugins.audiobridge")
                && err.contains("room 5")
                && err.contains("Unsupported sampling rate 44100"),
            "{err}"
        );
        let c = Config::from_yaml(
            "plugins:\n  audiobridge:\n    admin_key: k\n    rooms:\n      - room: 5\n",
        )
        .unwrap();
        c.validate().unwrap();
    }

    #[test]
    fn the_pin_prompt_must_be_a_readable_ogg_opus_file() {
        let c = Config::from_yaml(
            "plugins:\n  audiobridge:\n    pin_prompt: /nonexistent/cardea/pin.opus\n",
        )
        .unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("plugins.audiobridge.pin_prompt") && err.contains("/nonexistent"),
            "{err}"
        );
        let c = Config::from_yaml("plugins:\n  audiobridge:\n    pin_prompt: null\n").unwrap();
        c.validate().unwrap();
    }

    #[test]
    fn sip_tls_needs_a_certificate_and_key() {
        let c = Config::from_yaml("sip:\n  tls_port: 5061\n").unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("sip.tls_cert") && err.contains("sip.tls_port"),
            "{err}"
        );
        let c = Config::from_yaml("sip:\n  wss_port: 0\n  tls_cert: /nonexistent.pem\n").unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("sip.tls_key") && err.contains("sip.wss_port"),
            "{err}"
        );
        let c = Config::from_yaml(
            "sip:\n  tls_port: 0\n  tls_cert: /nonexistent/c.pem\n  tls_key: /nonexistent/k.pem\n",
        )
        .unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("sip.tls_cert /nonexistent/c.pem"), "{err}");
        let c = Config::default()
            .apply_env([("CARDEA_SIP_TLS_PORT".to_string(), "5061".to_string())].into_iter())
            .unwrap();
        assert_eq!(c.sip.tls_port, Some(5061));
        assert!(
            Config::default().validate().is_ok(),
            "TLS is off by default"
        );
    }
}
