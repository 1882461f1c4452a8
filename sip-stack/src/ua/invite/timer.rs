//! Session timers (RFC 4028), as an option of an [`InviteSession`]: keep-alive re-INVITEs
//! so that a call whose other end vanished without a BYE does not stay up for ever.
//!
//! Enabled with [`InviteSession::enable_session_timer`]. As UAC we offer `Session-Expires`
//! (and `Supported: timer`, `Min-SE`) and follow the 2xx; as UAS we take the caller's
//! `Session-Expires` into our 2xx (refresher the caller when it supports timers, §9). The
//! refresher re-INVITEs with its last SDP at half the interval (§7.4, §10); the other side
//! sends BYE when no refresh came by the interval minus min(32 s, interval/3) (§10).

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::header::Header;
use crate::header_name::HeaderName;
use crate::message::{Request, Response};
use crate::typed::{Refresher, SessionExpires};

use super::{InviteSession, Outgoing, Side};

/// The smallest interval we accept or offer (RFC 4028 §4: 90 s).
pub(super) const MIN_SE: u32 = 90;

#[derive(Debug, Default)]
pub(super) struct SessionTimer {
    /// The interval we offer, or accept at most; `None`: timers off.
    pub offer: Option<u32>,
    pub interval: Option<Duration>,
    pub we_refresh: bool,
    /// When to refresh (we_refresh) or give up (the other side refreshes).
    pub due: Option<Instant>,
    /// Our last SDP, for refreshing re-INVITEs.
    pub last_sdp: Option<Bytes>,
}

/// Whether `request` lists the `timer` option tag in Supported (RFC 4028 §3).
fn supports_timer(request: &Request) -> bool {
    request
        .headers
        .get_all(&HeaderName::Supported)
        .filter_map(|h| h.value_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("timer"))
}

/// Inserts `header` before Content-Length, where extra headers belong.
fn insert(headers: &mut crate::Headers, header: Header) {
    let at = headers
        .iter()
        .position(|h| *h.name() == HeaderName::ContentLength)
        .unwrap_or(headers.len());
    headers.insert(at, header);
}

impl InviteSession {
    /// Turns session timers on with `interval` seconds (at least 90). Call it right after
    /// [`InviteSession::call`] (the INVITE offers it) or [`InviteSession::incoming`].
    pub fn enable_session_timer(&mut self, interval: u32) {
        let interval = interval.max(MIN_SE);
        self.timer.offer = Some(interval);
        let Side::Uac(uac) = &mut self.side else {
            return;
        };
        let add = |r: &mut Request| {
            r.headers.remove_all(&HeaderName::Supported);
            insert(
                &mut r.headers,
                Header::new(HeaderName::Supported, "100rel, timer"),
            );
            insert(
                &mut r.headers,
                Header::new(HeaderName::SessionExpires, &interval.to_string()),
            );
            insert(
                &mut r.headers,
                Header::new(HeaderName::MinSe, &MIN_SE.to_string()),
            );
        };
        add(&mut uac.invite);
        for out in self.outputs.iter_mut() {
            if let Outgoing::Request(r) = out {
                if r.method == crate::Method::Invite {
                    add(r);
                }
            }
        }
        self.timer.last_sdp = Some(uac.invite.body.clone());
    }

    /// The 2xx to our INVITE (or re-INVITE) confirmed the session: follow its
    /// Session-Expires (RFC 4028 §7.2). None in the 2xx: the UAS does not do timers.
    pub(super) fn timer_on_2xx(&mut self, now: Instant, response: &Response) {
        if self.timer.offer.is_none() {
            return;
        }
        let Some(se) = response.headers.typed::<SessionExpires>().ok().flatten() else {
            return;
        };
        let we_refresh = se.refresher().unwrap_or(Refresher::Uac) == Refresher::Uac;
        self.schedule(now, se.delta, we_refresh);
    }

    /// Our 2xx to the initial INVITE: carry the caller's Session-Expires (§9) and start.
    pub(super) fn timer_on_answer(
        &mut self,
        now: Instant,
        invite: &Request,
        response: &mut Response,
    ) {
        let Some(ours) = self.timer.offer else {
            return;
        };
        self.timer.last_sdp = Some(response.body.clone());
        let Some(se) = invite.headers.typed::<SessionExpires>().ok().flatten() else {
            return;
        };
        let interval = se.delta.clamp(MIN_SE, ours.max(se.delta));
        let caller_can = supports_timer(invite);
        let refresher = match se.refresher() {
            Some(r) => r,
            None if caller_can => Refresher::Uac,
            None => Refresher::Uas,
        };
        let name = if refresher == Refresher::Uac {
            "uac"
        } else {
            "uas"
        };
        insert(
            &mut response.headers,
            Header::new(
                HeaderName::SessionExpires,
                &format!("{interval};refresher={name}"),
            ),
        );
        if caller_can {
            insert(
                &mut response.headers,
                Header::new(HeaderName::Require, "timer"),
            );
        }
        self.schedule(now, interval, refresher == Refresher::Uas);
    }

    /// A refresh from the peer (its re-INVITE, accepted) or our own answered: start over.
    pub(super) fn timer_refreshed(&mut self, now: Instant) {
        if let Some(interval) = self.timer.interval {
            let we_refresh = self.timer.we_refresh;
            self.schedule(now, interval.as_secs() as u32, we_refresh);
        }
    }

    fn schedule(&mut self, now: Instant, interval: u32, we_refresh: bool) {
        let interval = Duration::from_secs(u64::from(interval.max(MIN_SE)));
        self.timer.interval = Some(interval);
        self.timer.we_refresh = we_refresh;
        self.timer.due = Some(if we_refresh {
            now + interval / 2
        } else {
            now + interval - (interval / 3).min(Duration::from_secs(32))
        });
    }

    /// The timer fired: refresh, or end the session that nobody kept alive (§10).
    pub(super) fn timer_fire(&mut self, now: Instant) {
        if self.timer.due.is_none_or(|d| d > now) {
            return;
        }
        self.timer.due = None;
        if self.timer.we_refresh {
            let sdp = self.timer.last_sdp.clone().unwrap_or_default();
            if self.reinvite(sdp).is_err() {
                // A re-INVITE is already under way: it refreshes the session too.
                self.timer.due = Some(now + Duration::from_secs(1));
                return;
            }
            // The refresh names the interval and us as refresher again (§7.4).
            let interval = self.timer.interval.map_or(MIN_SE as u64, |i| i.as_secs());
            let who = match self.role() {
                crate::dialog::Role::Uac => "uac",
                crate::dialog::Role::Uas => "uas",
            };
            if let Some(Outgoing::Request(r)) = self.outputs.back_mut() {
                insert(&mut r.headers, Header::new(HeaderName::Supported, "timer"));
                insert(
                    &mut r.headers,
                    Header::new(
                        HeaderName::SessionExpires,
                        &format!("{interval};refresher={who}"),
                    ),
                );
            }
            return;
        }
        if let Some(d) = &mut self.dialog {
            let bye = d.make_bye();
            self.outputs.push_back(Outgoing::Request(bye));
        }
        self.end(false, 408, "Session Timer Expired");
    }

    pub(super) fn timer_next(&self) -> Option<Instant> {
        self.timer.due
    }
}
