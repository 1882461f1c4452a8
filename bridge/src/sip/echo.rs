//! The dialplan's `echo` action: Cardea answers the call itself and sends every RTP packet
//! back where it came from (a headset and network check, as PBXs' echo test numbers do).
//!
//! The SIP side is sans-IO, in the endpoint: a UAS [`InviteSession`] per call, answered once
//! the I/O loop has bound an RTP port pair for it ([`EchoCalls::wanted`] →
//! [`EchoCalls::bound`]); the packets are reflected by a small task of the I/O loop
//! ([`reflect`]) that counts them for the call record, and stops when the call ends
//! ([`EchoCalls::done`]) or after [`MAX_CALL`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cardea_sip::sdp::SessionDescription;
use cardea_sip::transaction::{ClientKey, ServerKey, Timers, TransactionLayer};
use cardea_sip::typed::NameAddr;
use cardea_sip::ua::{AnswerConfig, InviteSession, Local, Outgoing, SessionEvent};
use cardea_sip::{Request, Response, Uri};
use serde_json::{json, Value};

/// An echo call is ended by Cardea (BYE) after this long.
pub const MAX_CALL: Duration = Duration::from_secs(600);

/// Packets and bytes reflected, shared between the reflecting task and the call record.
#[derive(Debug, Default)]
pub struct Counters {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub rtcp: AtomicU64,
}

impl Counters {
    pub fn describe(&self) -> Value {
        let packets = self.packets.load(Ordering::Relaxed);
        json!({
            "rtp_packets_in": packets,
            "rtp_packets_out": packets,
            "rtp_bytes": self.bytes.load(Ordering::Relaxed),
            "rtcp_packets": self.rtcp.load(Ordering::Relaxed),
        })
    }
}

struct EchoCall {
    session: InviteSession,
    key: ServerKey,
    /// The answer's media section without its port, from the offer.
    media: AnswerMedia,
    ends_at: Instant,
    over: bool,
}

/// What the answer says, taken from the offer's first RTP audio stream.
#[derive(Debug, Clone)]
struct AnswerMedia {
    formats: Vec<String>,
    /// The offer's rtpmap and fmtp lines for those formats, as written.
    attributes: Vec<String>,
    /// The offer's other m-lines, to be refused (port 0).
    refused: Vec<String>,
}

/// Why an offer cannot be echoed: the SIP status and reason.
pub type Refusal = (u16, &'static str);

fn answer_media(offer: &[u8]) -> Result<AnswerMedia, Refusal> {
    let sdp = SessionDescription::parse(offer)
        .map_err(|_| (488, "Not Acceptable Here - unreadable SDP offer"))?;
    let mut chosen = None;
    let mut refused = Vec::new();
    for m in sdp.media() {
        let usable = chosen.is_none()
            && m.media().eq_ignore_ascii_case("audio")
            && !m.is_rejected()
            && m.proto().eq_ignore_ascii_case("RTP/AVP");
        if usable {
            let attributes = m
                .attributes()
                .filter(|a| {
                    a.name.eq_ignore_ascii_case("rtpmap") || a.name.eq_ignore_ascii_case("fmtp")
                })
                .map(|a| format!("a={}:{}", a.name, a.value.unwrap_or_default()))
                .collect();
            chosen = Some((m.formats().to_vec(), attributes));
        } else {
            refused.push(format!(
                "m={} 0 {} {}",
                m.media(),
                m.proto(),
                m.formats().join(" ")
            ));
        }
    }
    let Some((formats, attributes)) = chosen else {
        return Err((
            488,
            "Not Acceptable Here - the echo takes one plain RTP/AVP audio stream",
        ));
    };
    Ok(AnswerMedia {
        formats,
        attributes,
        refused,
    })
}

fn answer_sdp(media: &AnswerMedia, at: SocketAddr) -> Bytes {
    let ip = at.ip();
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let id = rand::random::<u32>();
    let mut sdp = format!(
        "v=0\r\no=cardea {id} {id} IN {family} {ip}\r\ns=Cardea echo\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
         m=audio {} RTP/AVP {}\r\n",
        at.port(),
        media.formats.join(" ")
    );
    for a in &media.attributes {
        sdp.push_str(a);
        sdp.push_str("\r\n");
    }
    sdp.push_str("a=sendrecv\r\n");
    for m in &media.refused {
        sdp.push_str(m);
        sdp.push_str("\r\n");
    }
    Bytes::from(sdp)
}

/// Every echo call of the endpoint.
#[derive(Default)]
pub struct EchoCalls {
    calls: HashMap<String, EchoCall>,
    clients: HashMap<ClientKey, String>,
    /// Calls waiting for an RTP port pair: the I/O loop binds one and calls
    /// [`EchoCalls::bound`] (or [`EchoCalls::unbound`]), and reflects with the counters.
    pub wanted: Vec<(String, Arc<Counters>)>,
    /// Calls over: the I/O loop stops their reflecting task.
    pub done: Vec<String>,
}

impl EchoCalls {
    pub fn has(&self, call_id: &str) -> bool {
        self.calls.contains_key(call_id)
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Takes the INVITE `key` (with its SDP offer): checks the offer, sets up the session
    /// and asks for an RTP port pair. The counters are for the call record.
    pub fn start(
        &mut self,
        now: Instant,
        key: ServerKey,
        request: &Request,
        local: Local,
        contact: Uri,
    ) -> Result<Arc<Counters>, Refusal> {
        if request.body.is_empty() {
            return Err((
                488,
                "Not Acceptable Here - the echo needs an SDP offer in the INVITE",
            ));
        }
        let media = answer_media(&request.body)?;
        let session = InviteSession::incoming(
            key,
            request.clone(),
            AnswerConfig {
                local,
                contact: NameAddr::new(contact),
                timers: Timers::default(),
            },
        )
        .map_err(|_| (400, "Bad Request - the INVITE cannot start a dialog"))?;
        let call_id = session.call_id().to_owned();
        let counters = Arc::new(Counters::default());
        self.wanted.push((call_id.clone(), Arc::clone(&counters)));
        self.calls.insert(
            call_id,
            EchoCall {
                session,
                key,
                media,
                ends_at: now + MAX_CALL,
                over: false,
            },
        );
        Ok(counters)
    }

    /// The RTP port pair is bound at `at`: answer.
    pub fn bound(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        call_id: &str,
        at: SocketAddr,
    ) {
        let Some(call) = self.calls.get_mut(call_id) else {
            self.done.push(call_id.to_owned());
            return;
        };
        let sdp = answer_sdp(&call.media, at);
        if let Err(e) = call.session.answer(now, sdp) {
            tracing::debug!(%call_id, "echo call not answered: {e}");
            call.over = true;
        }
        self.pump(now, layer);
    }

    /// No RTP port could be bound: refuse the call.
    pub fn unbound(&mut self, now: Instant, layer: &mut TransactionLayer, call_id: &str) {
        if let Some(call) = self.calls.get_mut(call_id) {
            let _ = call
                .session
                .reject(503, Some("Service Unavailable - no RTP port for the echo"));
        }
        self.pump(now, layer);
    }

    /// An in-dialog request of an echo call (BYE, re-INVITE, INFO…).
    pub fn request(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        key: ServerKey,
        request: Request,
    ) {
        let call_id = request.call_id_value().unwrap_or_default();
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.session.handle_request(now, key, request);
        }
        self.pump(now, layer);
    }

    /// The ACK for our 200.
    pub fn ack(&mut self, now: Instant, request: &Request) {
        let call_id = request.call_id_value().unwrap_or_default();
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.session.handle_ack(now, request);
        }
    }

    /// A response to a request of ours (a BYE); `false`: not ours.
    pub fn response(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        key: &ClientKey,
        response: &Response,
    ) -> bool {
        let Some(call_id) = self.clients.get(key).cloned() else {
            return false;
        };
        if response.status >= 200 {
            self.clients.remove(key);
        }
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.session.handle_response(now, response);
        }
        self.pump(now, layer);
        true
    }

    /// Our request failed in the transaction layer; `false`: not ours.
    pub fn failure(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        key: &ClientKey,
        code: u16,
    ) -> bool {
        let Some(call_id) = self.clients.remove(key) else {
            return false;
        };
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.session
                .handle_failure(now, &cardea_sip::Method::Bye, code);
            call.over = true;
        }
        self.pump(now, layer);
        true
    }

    /// The server transaction key of an echo call's INVITE, for its call record.
    pub fn invite_key(&self, call_id: &str) -> Option<ServerKey> {
        self.calls.get(call_id).map(|c| c.key)
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        self.calls
            .values()
            .flat_map(|c| [c.session.next_timeout(), Some(c.ends_at)])
            .flatten()
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant, layer: &mut TransactionLayer) {
        for call in self.calls.values_mut() {
            call.session.handle_timeout(now);
            if now >= call.ends_at && !call.over {
                call.ends_at = now + MAX_CALL;
                let _ = call.session.bye();
            }
        }
        self.pump(now, layer);
    }

    /// Sends what the sessions queued and drops the calls that ended.
    fn pump(&mut self, now: Instant, layer: &mut TransactionLayer) {
        for (call_id, call) in &mut self.calls {
            while let Some(out) = call.session.poll_output() {
                match out {
                    Outgoing::Response { key, response } => {
                        if let Err(e) = layer.respond(now, key, response) {
                            tracing::debug!(%call_id, "echo response not sent: {e}");
                        }
                    }
                    Outgoing::Request(request) => {
                        let Some(destination) = request_destination(&request) else {
                            continue;
                        };
                        if let Ok(key) = layer.send_request(now, request, destination) {
                            self.clients.insert(key, call_id.clone());
                        }
                    }
                    Outgoing::Stateless(request) => {
                        if let Some(destination) = request_destination(&request) {
                            layer
                                .send_stateless(cardea_sip::Message::Request(request), destination);
                        }
                    }
                }
            }
            while let Some(event) = call.session.poll_event() {
                if matches!(
                    event,
                    SessionEvent::Terminated { .. } | SessionEvent::Failed { .. }
                ) {
                    call.over = true;
                }
            }
        }
        let over: Vec<String> = self
            .calls
            .iter()
            .filter(|(_, c)| c.over)
            .map(|(k, _)| k.clone())
            .collect();
        for call_id in over {
            self.calls.remove(&call_id);
            self.clients.retain(|_, c| *c != call_id);
            self.done.push(call_id);
        }
    }
}

/// Where a request of our dialog goes: its top Route, else its Request-URI (IP literals;
/// the caller's Contact is one in practice).
fn request_destination(request: &Request) -> Option<cardea_sip::transaction::Destination> {
    let route = request
        .headers
        .typed_all::<cardea_sip::typed::Route>()
        .ok()
        .and_then(|r| r.into_iter().next());
    let uri = route.map_or_else(|| request.uri.clone(), |r| r.0.uri);
    cardea_sip::proxy::destination_of(&uri)
}

/// Reflects RTP (and RTCP) back to each packet's source until `stop` fires, counting.
pub async fn reflect(
    rtp: tokio::net::UdpSocket,
    rtcp: tokio::net::UdpSocket,
    counters: Arc<Counters>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut buf = vec![0u8; 2048];
    let mut cbuf = vec![0u8; 2048];
    let deadline = tokio::time::sleep(MAX_CALL + Duration::from_secs(30));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            got = rtp.recv_from(&mut buf) => {
                if let Ok((n, from)) = got {
                    if rtp.send_to(&buf[..n], from).await.is_ok() {
                        counters.packets.fetch_add(1, Ordering::Relaxed);
                        counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    }
                }
            }
            got = rtcp.recv_from(&mut cbuf) => {
                if let Ok((n, from)) = got {
                    let _ = rtcp.send_to(&cbuf[..n], from).await;
                    counters.rtcp.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ = &mut stop => return,
            _ = &mut deadline => return,
        }
    }
}
