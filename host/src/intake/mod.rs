//! Event intake: NDJSON lines from state information systems, checked against the catalogue
//! of event kinds before anything is stored.
//!
//! **Architecture invariant:** a line that fails validation leaves no trace but its error
//! (line number and problem, never the personal data in it); the lines around it go on.

pub mod catalogue;
mod event;
pub mod ndjson;

pub use event::{EventError, parse_event};
