//! Console commands: the node's own command line on its machine (`akari status`, `akari
//! mode …`, `akari account …`, …). One [`Request`] type, one [`execute`] function, two
//! ways to reach it:
//!
//! - the running node takes them on its control socket `<data>/control.sock`
//!   ([`socket`]);
//! - with no node running (nothing answers on the socket), the command opens
//!   [`Services`](crate::Services) in its own process and calls [`execute`] directly. redb
//!   locks the files, so the two never hold them at once.
//!
//! Either way the actor in the audit ledger is the OS user who ran the command.

mod execute;
mod protocol;
mod render;
pub mod socket;

pub use execute::{execute, execute_async};
pub use protocol::{Envelope, ModeChange, Request, Response, ReviewOptions, TypedTime};
pub use socket::{current_user, listen, send, socket_path, user_name, SOCKET_FILE};
