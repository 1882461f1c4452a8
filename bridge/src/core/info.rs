//! `server_info` (Janus `info`), also served by the Admin API.

use serde_json::{json, Map, Value};

use super::Core;

/// The Janus API level Cardea speaks on the wire (clients compare against Janus versions).
const API_VERSION: u32 = 1102;
const API_VERSION_STRING: &str = "1.1.2";

impl Core {
    pub(super) fn server_info(&self, transaction: &str) -> Value {
        let mut plugins = Map::new();
        for p in &self.plugins {
            let i = p.info();
            plugins.insert(
                i.package.into(),
                json!({
                    "name": i.name, "author": i.author, "description": i.description,
                    "version": i.version, "version_string": i.version_string
                }),
            );
        }
        let g = &self.config.general;
        let transport = |name: &str, description: &str| {
            json!({
                "name": name, "author": "Cardea", "description": description,
                "version": API_VERSION, "version_string": API_VERSION_STRING
            })
        };
        json!({
            "janus": "server_info",
            "transaction": transaction,
            "name": "Cardea",
            "version": API_VERSION,
            "version_string": API_VERSION_STRING,
            "cardea_version": env!("CARGO_PKG_VERSION"),
            "author": "The Cardea developers",
            "commit-hash": "not-a-git-repo",
            "compile-time": "",
            "log-to-stdout": true,
            "log-to-file": false,
            "data_channels": true,
            "accepting-new-sessions": self.accepting,
            "session-timeout": self.session_timeout,
            "reclaim-session-timeout": g.reclaim_session_timeout,
            "candidates-timeout": 45,
            "server-name": g.server_name,
            "local-ip": self.config.media.bind.to_string(),
            "ipv6": false,
            "ice-lite": self.config.media.ice_lite,
            "ice-tcp": false,
            "full-trickle": false,
            "mdns-enabled": false,
            "min-nack-queue": 200,
            "twcc-period": 200,
            "dtls-mtu": 1200,
            "static-event-loops": self.shards.len(),
            "api_secret": g.api_secret.is_some(),
            "auth_token": g.token_auth,
            "event_handlers": false,
            "opaqueid_in_api": false,
            "dependencies": { "str0m": "0.25.0", "axum": "0.8" },
            "transports": {
                "janus.transport.http": transport("JANUS REST (HTTP/HTTPS) transport plugin", "HTTP and long poll"),
                "janus.transport.websockets": transport("JANUS WebSockets transport plugin", "WebSocket")
            },
            "events": {},
            "loggers": {},
            "plugins": plugins
        })
    }
}
