//! `web_client_boot`: logs in and opens the websocket, as the web client does.

use super::Flow;
use crate::scenario::validate::Checker;

impl Checker<'_> {
    pub(super) fn web_client_boot(&mut self, flow: &mut Flow) {
        flow.websocket = true;
        flow.logged_in = true;
    }
}
