//! The dialogs one INVITE creates (§12.1.2, §13.2.2.4): a forking proxy may send
//! provisionals, and even 2xx, from several UASs; each remote tag is its own dialog.

use crate::message::{Request, Response};

use super::error::DialogError;
use super::id::DialogId;
use super::{Dialog, Termination};

/// The early and confirmed dialogs of one INVITE we sent, keyed by remote tag.
#[derive(Debug, Clone, Default)]
pub struct DialogSet {
    dialogs: Vec<Dialog>,
}

impl DialogSet {
    pub fn new() -> DialogSet {
        DialogSet::default()
    }

    /// Files a response to our INVITE `invite`: a 101–299 with a To tag creates the dialog
    /// of its remote tag or updates it (confirming it on 2xx). Returns that dialog; `None`
    /// for responses that create none (100, untagged 1xx, finals ≥ 300).
    pub fn handle_response(
        &mut self,
        invite: &Request,
        response: &Response,
    ) -> Result<Option<&mut Dialog>, DialogError> {
        if !(101..=299).contains(&response.status) {
            return Ok(None);
        }
        let Some(id) = DialogId::of_response(response)? else {
            return Ok(None);
        };
        match self.dialogs.iter().position(|d| d.id == id) {
            Some(i) => {
                self.dialogs[i].handle_response(response)?;
                Ok(Some(&mut self.dialogs[i]))
            }
            None => {
                self.dialogs.push(Dialog::uac(invite, response)?);
                Ok(self.dialogs.last_mut())
            }
        }
    }

    pub fn get(&self, remote_tag: &str) -> Option<&Dialog> {
        self.dialogs.iter().find(|d| d.id.remote_tag == remote_tag)
    }

    pub fn get_mut(&mut self, remote_tag: &str) -> Option<&mut Dialog> {
        self.dialogs
            .iter_mut()
            .find(|d| d.id.remote_tag == remote_tag)
    }

    /// Takes the dialog of `remote_tag` out of the set (the one the session goes on with).
    pub fn take(&mut self, remote_tag: &str) -> Option<Dialog> {
        let i = self
            .dialogs
            .iter()
            .position(|d| d.id.remote_tag == remote_tag)?;
        Some(self.dialogs.remove(i))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Dialog> {
        self.dialogs.iter()
    }

    /// The dialogs still early.
    pub fn early(&self) -> impl Iterator<Item = &Dialog> {
        self.dialogs.iter().filter(|d| d.is_early())
    }

    pub fn len(&self) -> usize {
        self.dialogs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dialogs.is_empty()
    }

    /// Ends every early dialog: a non-2xx final response ends them all (§12.3), a 2xx
    /// from one ends the others' chance (§13.2.2.4).
    pub fn terminate_early(&mut self, why: Termination) {
        for d in self.dialogs.iter_mut().filter(|d| d.is_early()) {
            d.terminate(why.clone());
        }
    }

    /// Drops every dialog.
    pub fn clear(&mut self) {
        self.dialogs.clear();
    }
}
