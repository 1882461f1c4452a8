//! SDES-SRTP toward the SIP peer (RFC 4568): Janus's `srtp` (`sdes_optional` offers plain
//! `RTP/AVP` carrying `a=crypto`, `sdes_mandatory` offers `RTP/SAVP`) and `srtp_profile`,
//! our keys for offers and answers, and the peer's keys read from its SDP.

use cardea_media::rtp_leg::{CryptoAttribute, CryptoSuite};
use cardea_sip::sdp::{Crypto, SipMedia};

use super::error::SipError;
use super::request::Body;
use crate::api::SrtpKeys;

/// How a call protects its media toward the SIP peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SrtpPolicy {
    /// `sdes_mandatory`: an answer without keys ends the call.
    pub mandatory: bool,
    pub suite: CryptoSuite,
}

/// Reads `srtp` and `srtp_profile` of a `call` (or `accept`/`progress`) request.
pub fn policy(body: &Body<'_>) -> Result<Option<SrtpPolicy>, SipError> {
    let mandatory = match body.str("srtp")? {
        None => return Ok(None),
        Some("sdes_optional") => false,
        Some("sdes_mandatory") => true,
        Some(other) => {
            return Err(SipError::InvalidElement(format!(
                "srtp should be sdes_optional or sdes_mandatory, not {other}"
            )))
        }
    };
    let suite = match body.str("srtp_profile")? {
        None => CryptoSuite::AesCm128HmacSha1_80,
        Some(name) => CryptoSuite::from_name(name)
            .ok_or_else(|| SipError::InvalidElement(format!("unsupported srtp_profile {name}")))?,
    };
    Ok(Some(SrtpPolicy { mandatory, suite }))
}

/// A fresh key of ours, as the SDP model and the media leg each want it.
pub fn generate(tag: u32, suite: CryptoSuite) -> Result<(CryptoAttribute, Crypto), SipError> {
    let attr = CryptoAttribute::generate(tag, suite).map_err(|e| SipError::Io(e.to_string()))?;
    let sdp = Crypto::parse(&attr.to_string()).map_err(|e| SipError::Io(e.to_string()))?;
    Ok((attr, sdp))
}

/// The first of the peer's keys that we can use, preferring `suite` when given.
pub fn peer_key(media: &SipMedia, suite: Option<CryptoSuite>) -> Option<CryptoAttribute> {
    let keys: Vec<CryptoAttribute> = media
        .crypto
        .iter()
        .filter_map(|c| CryptoAttribute::parse(&c.to_string()).ok())
        .collect();
    keys.iter()
        .find(|k| Some(k.key.suite()) == suite)
        .or_else(|| keys.first())
        .cloned()
}

pub fn keys(local: &CryptoAttribute, remote: &CryptoAttribute) -> SrtpKeys {
    SrtpKeys {
        local: local.key.clone(),
        remote: remote.key.clone(),
    }
}
