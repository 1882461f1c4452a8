//! Routing messages from the network: responses to client transactions (§17.1.3), requests
//! to server transactions (§17.2.3), or to the TU when they belong to none.

use std::time::Instant;

use crate::message::{Request, Response};
use crate::method::Method;
use crate::typed::CSeq;

use super::TransactionLayer;
use crate::transaction::entry::{ClientMachine, ServerEntry, ServerMachine};
use crate::transaction::error::TransactionError;
use crate::transaction::event::{Destination, ServerKey, TransactionEvent};
use crate::transaction::invite_server::InviteServer;
use crate::transaction::matching::{self, ClientMatch, MergeKey, ServerMatch};
use crate::transaction::non_invite_server::NonInviteServer;

impl TransactionLayer {
    pub(super) fn handle_response(
        &mut self,
        now: Instant,
        response: Response,
        source: Destination,
    ) -> Result<(), TransactionError> {
        let matching = ClientMatch::of_response(&response)?;
        let Some(&key) = self.client_index.get(&matching) else {
            // §18.1.2: no transaction, so the core decides.
            self.events
                .push_back(TransactionEvent::StrayResponse { response, source });
            return Ok(());
        };
        let mut out = Vec::new();
        if let Some(entry) = self.clients.get_mut(&key) {
            match &mut entry.machine {
                ClientMachine::Invite(t) => t.handle_response(now, response, &mut out),
                ClientMachine::NonInvite(t) => t.handle_response(now, response, &mut out),
            }
        }
        self.settle_client(key, out);
        Ok(())
    }

    pub(super) fn handle_request(
        &mut self,
        now: Instant,
        request: Request,
        source: Destination,
    ) -> Result<(), TransactionError> {
        let cseq = matching::cseq(request.headers.typed::<CSeq>()?)?;
        if cseq.method != request.method {
            return Err(TransactionError::CSeqMethodMismatch);
        }
        let matching = ServerMatch::of_request(&request)?;
        if let Some(&key) = self.server_index.get(&matching) {
            // A retransmission, or the ACK of an INVITE transaction (§17.2.3).
            let mut out = Vec::new();
            if let Some(entry) = self.servers.get_mut(&key) {
                match &mut entry.machine {
                    ServerMachine::Invite(t) => t.handle_request(now, request, &mut out),
                    ServerMachine::NonInvite(t) => t.handle_request(&mut out),
                }
            }
            self.settle_server(key, out);
            return Ok(());
        }
        if request.method == Method::Ack {
            // The ACK for a 2xx is its own transaction, for the TU (§17.2.3, §13.2.2.4).
            self.events.push_back(TransactionEvent::Ack {
                invite: None,
                request,
                source,
            });
            return Ok(());
        }
        let key = ServerKey(self.fresh_id());
        let merge = MergeKey::of_request(&request);
        let merged_with = match &merge {
            Some(m) if !matching::has_to_tag(&request) => self.merge_index.get(m).copied(),
            _ => None,
        };
        let event = if let Some(original) = merged_with {
            TransactionEvent::Merged {
                key,
                original,
                request: request.clone(),
                source: source.clone(),
            }
        } else if request.method == Method::Cancel {
            // §9.2: the CANCEL matches its INVITE by the §17.2.3 rules but for the method.
            let invite = self
                .server_index
                .get(&matching.with_method(Method::Invite))
                .copied();
            TransactionEvent::Cancel {
                key,
                invite,
                request: request.clone(),
                source: source.clone(),
            }
        } else {
            TransactionEvent::Request {
                key,
                request: request.clone(),
                source: source.clone(),
            }
        };
        let reliable = source.is_reliable();
        let machine = if request.method == Method::Invite {
            ServerMachine::Invite(InviteServer::start(now, &request, reliable, self.timers))
        } else {
            ServerMachine::NonInvite(NonInviteServer::start(reliable, self.timers))
        };
        self.server_index.insert(matching.clone(), key);
        if let Some(m) = &merge {
            self.merge_index.entry(m.clone()).or_insert(key);
        }
        self.servers.insert(
            key,
            ServerEntry {
                machine,
                source,
                matching,
                merge,
                deadline: None,
            },
        );
        self.events.push_back(event);
        self.settle_server(key, Vec::new());
        Ok(())
    }
}
