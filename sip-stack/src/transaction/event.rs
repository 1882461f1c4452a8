//! What the layer hands out: keys, destinations, transmissions and events for the TU.

use std::net::SocketAddr;

use crate::message::{Message, Request, Response};
use crate::typed::Transport;

/// A client transaction, named by the layer (not by the branch, which the peer chose too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientKey(pub(crate) u64);

/// A server transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerKey(pub(crate) u64);

/// Either side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransactionKey {
    Client(ClientKey),
    Server(ServerKey),
}

impl From<ClientKey> for TransactionKey {
    fn from(k: ClientKey) -> Self {
        TransactionKey::Client(k)
    }
}

impl From<ServerKey> for TransactionKey {
    fn from(k: ServerKey) -> Self {
        TransactionKey::Server(k)
    }
}

/// Where a message goes or came from: an address and the transport that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub addr: SocketAddr,
    pub transport: Transport,
}

impl Destination {
    pub fn new(addr: SocketAddr, transport: Transport) -> Destination {
        Destination { addr, transport }
    }

    pub fn udp(addr: SocketAddr) -> Destination {
        Destination::new(addr, Transport::Udp)
    }

    /// TCP, TLS, SCTP and WebSocket deliver in order and retransmit themselves, so the
    /// transaction does not (§17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2).
    pub fn is_reliable(&self) -> bool {
        matches!(
            self.transport,
            Transport::Tcp | Transport::Tls | Transport::Sctp | Transport::Ws | Transport::Wss
        )
    }
}

/// A message to write on the wire (serialize it with [`Message::to_bytes`]).
#[derive(Debug, Clone)]
pub struct Transmit {
    /// The transaction that sent it; `None` for [`super::TransactionLayer::send_stateless`].
    pub key: Option<TransactionKey>,
    pub destination: Destination,
    pub message: Message,
}

/// The state of a transaction, as the RFC names it (§17.1.1, §17.1.2, §17.2.1, §17.2.2,
/// RFC 6026 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionState {
    /// INVITE client, before any response.
    Calling,
    /// Non-INVITE client or server, before any response.
    Trying,
    Proceeding,
    Completed,
    /// INVITE server, ACK received for a non-2xx final response.
    Confirmed,
    /// INVITE client or server after a 2xx (RFC 6026 §7.1, §7.2).
    Accepted,
    Terminated,
}

/// What the transaction user (UA core, proxy core, dialog layer) must hear about.
#[derive(Debug, Clone)]
pub enum TransactionEvent {
    /// A new request; answer it with [`super::TransactionLayer::respond`] (§17.2.1, §17.2.2).
    Request {
        key: ServerKey,
        request: Request,
        source: Destination,
    },
    /// A response for a client transaction: provisional, final, and in the Accepted state
    /// every further 2xx (retransmissions and forks, RFC 6026 §7.2).
    Response { key: ClientKey, response: Response },
    /// A response that matches no client transaction (§18.1.2): for the core (a stateless
    /// proxy forwards it; a UA may see a late 2xx retransmission).
    StrayResponse {
        response: Response,
        source: Destination,
    },
    /// An ACK outside any transaction: the ACK for a 2xx (§13.2.2.4, §17.1.1.3). `invite`
    /// names the INVITE server transaction when it arrived in the Accepted state
    /// (RFC 6026 §7.1).
    Ack {
        invite: Option<ServerKey>,
        request: Request,
        source: Destination,
    },
    /// A CANCEL, in its own server transaction `key` (answer it: 200, or 481 when `invite`
    /// is `None`), and the INVITE server transaction it cancels (§9.2).
    Cancel {
        key: ServerKey,
        invite: Option<ServerKey>,
        request: Request,
        source: Destination,
    },
    /// A request without To tag whose From tag, Call-ID and CSeq equal those of transaction
    /// `original` but which does not match it: it reached us twice along different paths
    /// (§8.2.2.2). A UAS answers 482 (Loop Detected) on `key`; a proxy treats it as a request.
    Merged {
        key: ServerKey,
        original: ServerKey,
        request: Request,
        source: Destination,
    },
    /// No final response in time (timers B, F) or no ACK for a non-2xx final response
    /// (timer H): the transaction has failed (§17.1.1.2, §17.1.2.2, §17.2.1).
    Timeout(TransactionKey),
    /// The driver reported that the transport could not send for this transaction
    /// (§17.1.4, §17.2.4).
    TransportError(TransactionKey),
    /// The transaction is gone; its key is no longer valid.
    Terminated(TransactionKey),
}
