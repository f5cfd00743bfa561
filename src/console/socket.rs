//! The control socket: how a console command reaches the running node. The node listens
//! on `<data>/control.sock` (a Unix socket, mode 0600, in the 0700 data directory; removed
//! at shutdown); a command connects, writes one JSON line ([`Envelope`]) and reads one JSON
//! line ([`Response`]). The node takes the console user's name from the socket's peer
//! credentials, never from the request.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use akari_accounts::Console;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::execute::execute_async;
use super::protocol::{Envelope, Request, Response};
use crate::error::Error;
use crate::services::Services;

/// File name of the control socket inside the data directory.
pub const SOCKET_FILE: &str = "control.sock";
/// Largest request line the node reads.
const MAX_REQUEST: usize = 1024 * 1024;

/// The socket path of a data directory.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_FILE)
}

/// Sends `request` to the node running on `data_dir`. `Ok(None)`: no node answers there
/// (no socket, or a stale one left by a crash) — the caller may open the files itself.
pub fn send(data_dir: &Path, request: &Request) -> Result<Option<Response>, Error> {
    use std::os::unix::net::UnixStream;
    let path = socket_path(data_dir);
    let fail = |message: String| Error::Control {
        path: path.clone(),
        message,
    };
    let stream = match UnixStream::connect(&path) {
        Ok(stream) => stream,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(fail(format!("cannot connect to the running node: {e}"))),
    };
    let mut line = serde_json::to_string(&Envelope {
        request: request.clone(),
    })
    .map_err(|e| fail(e.to_string()))?;
    line.push('\n');
    (&stream)
        .write_all(line.as_bytes())
        .map_err(|e| fail(format!("cannot send the command: {e}")))?;
    let mut reader = BufReader::new(&stream);
    let mut answer = String::new();
    reader
        .read_line(&mut answer)
        .map_err(|e| fail(format!("no answer from the running node: {e}")))?;
    if answer.is_empty() {
        return Err(fail(
            "the running node closed the connection without answering; see its log".into(),
        ));
    }
    let response = serde_json::from_str(&answer)
        .map_err(|e| fail(format!("unreadable answer from the running node: {e}")))?;
    Ok(Some(response))
}

/// Listens on `<data>/control.sock` for console commands until `cancel` fires; the socket
/// file is removed then. A stale socket (from a node that crashed) is replaced; a socket
/// another live node answers on is an error.
pub fn listen(
    services: Arc<Services>,
    tasks: &TaskTracker,
    cancel: CancellationToken,
) -> Result<PathBuf, Error> {
    let path = socket_path(services.data.root());
    let fail = |message: String| Error::Control {
        path: path.clone(),
        message,
    };
    if path.exists() {
        match std::os::unix::net::UnixStream::connect(&path) {
            Ok(_) => {
                return Err(fail(
                    "another Akari node is already running on this data directory".into(),
                ))
            }
            Err(_) => std::fs::remove_file(&path)
                .map_err(|e| fail(format!("cannot remove the stale socket: {e}")))?,
        }
    }
    let listener = tokio::net::UnixListener::bind(&path).map_err(|e| fail(e.to_string()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| fail(format!("cannot make the socket private: {e}")))?;
    let socket = path.clone();
    let connections = tasks.clone();
    tasks.spawn(async move {
        loop {
            let stream = tokio::select! {
                () = cancel.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        warn!(error = %e, "control socket accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            connections.spawn(serve_one(services.clone(), stream));
        }
        drop(listener);
        if let Err(e) = std::fs::remove_file(&socket) {
            warn!(error = %e, "cannot remove the control socket");
        }
    });
    Ok(path)
}

/// One connection: who is asking, one request line, one answer line.
async fn serve_one(services: Arc<Services>, stream: tokio::net::UnixStream) {
    let Some(user) = console_user(&stream) else {
        return;
    };
    let (read, mut write) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(read).take(MAX_REQUEST as u64);
    let mut line = String::new();
    let response = match reader.read_line(&mut line).await {
        Ok(_) => match serde_json::from_str::<Envelope>(&line) {
            Ok(envelope) => run(services, Console::new(user), envelope.request).await,
            Err(e) => Response::fail(format!(
                "not a valid command for this node ({e}); is the akari binary the same version?"
            )),
        },
        Err(e) => Response::fail(format!("cannot read the command: {e}")),
    };
    let Ok(mut text) = serde_json::to_string(&response) else {
        return;
    };
    text.push('\n');
    let _ = write.write_all(text.as_bytes()).await;
    let _ = write.shutdown().await;
}

/// The OS user at the other end, if it may command this node: only the node's own user
/// (or root). The 0700 data directory already keeps others from reaching the socket.
fn console_user(stream: &tokio::net::UnixStream) -> Option<String> {
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == nix::unistd::geteuid().as_raw() || cred.uid() == 0 => {
            Some(user_name(cred.uid()))
        }
        Ok(cred) => {
            warn!(
                uid = cred.uid(),
                "control socket: a connection from another user; refused"
            );
            None
        }
        Err(e) => {
            warn!(error = %e, "control socket: no peer credentials; refused");
            None
        }
    }
}

async fn run(services: Arc<Services>, console: Console, request: Request) -> Response {
    info!(
        command = request.name(),
        "console command via the control socket"
    );
    execute_async(services, console, request).await
}

/// The OS user name of `uid` (or `uid:N` if it has none).
pub fn user_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(user)) => user.name,
        _ => format!("uid:{uid}"),
    }
}

/// The OS user running this process.
pub fn current_user() -> String {
    user_name(nix::unistd::getuid().as_raw())
}
