//! `login` and `connect`: what they open for the steps after them.

use super::Flow;
use crate::scenario::model::*;
use crate::scenario::validate::Checker;

impl Checker<'_> {
    pub(super) fn login(&mut self, l: &LoginStep, flow: &mut Flow) {
        flow.logged_in = true;
        flow.websocket |= l.via == Via::Ddp;
    }

    pub(super) fn connect(&mut self, flow: &mut Flow) {
        flow.websocket = true;
    }
}
