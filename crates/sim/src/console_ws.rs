//! `vncwebsocket`: a console ticket from `termproxy` or `vncproxy` upgrades the request to a
//! WebSocket that speaks enough of each protocol for console clients to connect. A terminal
//! (PVE's termproxy protocol: `user:ticket\n` first, then `0:<len>:<data>` input, `1:<cols>:
//! <rows>:` resizes and `2` pings) answers `OK`, shows a login banner and a prompt, and echoes
//! what is typed. A VNC console speaks RFB 3.8 up to the server's init (security `None`: the
//! ticket already authenticated the upgrade) and then reads and ignores client messages. A
//! wrong, stale or someone else's ticket is refused before the upgrade.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::auth::Principal;
use crate::error::PveError;
use crate::http::{Resp, Shared, error_response};

/// Whether a request asks for the console WebSocket.
pub fn wanted(method: &http::Method, api_path: &str, headers: &http::HeaderMap) -> bool {
    method == http::Method::GET
        && api_path.ends_with("/vncwebsocket")
        && headers
            .get(http::header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The ACL path a console path is for: `/vms/<vmid>` or `/nodes/<node>`.
fn acl_path(api_path: &str) -> Option<String> {
    let segs: Vec<&str> = api_path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["nodes", _, "qemu" | "lxc", vmid, "vncwebsocket"] => Some(format!("/vms/{vmid}")),
        ["nodes", node, "vncwebsocket"] => Some(format!("/nodes/{node}")),
        _ => None,
    }
}

fn query_param(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// Check the ticket and answer `101 Switching Protocols`, then serve the console.
pub fn upgrade(
    shared: &Arc<Shared>,
    mut req: Request<Incoming>,
    who: &Principal,
    api_path: &str,
    query: &str,
) -> Resp {
    let refuse = |m: &str| error_response(&PveError::status(401, m.to_string()));
    let Some(path) = acl_path(api_path) else {
        return error_response(&PveError::not_implemented("GET", api_path));
    };
    let port = query_param(query, "port").and_then(|p| p.parse::<u16>().ok());
    let ticket = query_param(query, "vncticket").unwrap_or_default();
    let (Some(port), false) = (port, ticket.is_empty()) else {
        return error_response(&PveError::param(
            "vncticket",
            "property is missing and it is not optional",
        ));
    };
    let kind = {
        let w = shared.read();
        crate::routes::console::check_vnc_ticket(
            &w,
            &shared.env.auth,
            &who.user,
            &path,
            port,
            &ticket,
        )
    };
    let Some(kind) = kind else {
        return refuse("authentication failure - invalid ticket");
    };
    let Some(key) = req.headers().get("sec-websocket-key").map(|k| derive_accept_key(k.as_bytes()))
    else {
        return refuse("websocket key missing");
    };
    let binary = req
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|p| p.trim() == "binary"));
    let on_upgrade = hyper::upgrade::on(&mut req);
    let user = who.user.clone();
    let title = path.clone();
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else { return };
        let io = hyper_util::rt::TokioIo::new(upgraded);
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
        if kind == crate::state::ConsoleKind::Term {
            terminal(ws, &user, &ticket, &title).await;
        } else {
            vnc(ws, &title).await;
        }
    });
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(http::header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(http::header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&key) {
        h.insert("sec-websocket-accept", v);
    }
    if binary {
        h.insert("sec-websocket-protocol", HeaderValue::from_static("binary"));
    }
    resp
}

type Ws = WebSocketStream<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>;

fn text_of(m: &Message) -> Option<String> {
    match m {
        Message::Text(t) => Some(t.to_string()),
        Message::Binary(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

/// PVE's termproxy protocol with a shell that echoes.
async fn terminal(mut ws: Ws, user: &str, ticket: &str, title: &str) {
    // The first message authenticates: `<user>:<ticket>\n`.
    let Some(Ok(first)) = ws.next().await else { return };
    let expected = format!("{user}:{ticket}\n");
    if text_of(&first).as_deref() != Some(expected.as_str()) {
        let _ = ws.close(None).await;
        return;
    }
    let host = title.rsplit('/').next().unwrap_or("pve");
    let prompt = format!("root@{host}:~# ");
    let banner = format!(
        "OKLinux {host} 6.14.8-2-pve #1 SMP PREEMPT_DYNAMIC x86_64\r\n\r\nThis is the proxctl simulator's console: what you type is echoed.\r\n{prompt}"
    );
    if ws.send(Message::binary(banner.into_bytes())).await.is_err() {
        return;
    }
    while let Some(Ok(msg)) = ws.next().await {
        let Some(text) = text_of(&msg) else {
            if matches!(msg, Message::Close(_)) {
                break;
            }
            continue;
        };
        // `0:<len>:<data>` is input; resizes (`1:`) and pings (`2`) need no answer.
        let Some(rest) = text.strip_prefix("0:") else { continue };
        let data = rest.split_once(':').map_or("", |(_, d)| d);
        let echo = data.replace('\r', &format!("\r\n{prompt}"));
        if ws.send(Message::binary(echo.into_bytes())).await.is_err() {
            break;
        }
    }
}

/// RFB 3.8 up to ServerInit: a 1024x768 true-colour screen named after the guest.
async fn vnc(mut ws: Ws, title: &str) {
    if ws.send(Message::binary(b"RFB 003.008\n".to_vec())).await.is_err() {
        return;
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut stage = 0;
    while let Some(Ok(msg)) = ws.next().await {
        match msg {
            Message::Binary(b) => buf.extend_from_slice(&b),
            Message::Close(_) => break,
            _ => continue,
        }
        loop {
            let reply: Vec<u8> = match stage {
                // The client's version: offer one security type, None.
                0 if buf.len() >= 12 => {
                    buf.drain(..12);
                    vec![1, 1]
                }
                // Its choice: security result OK.
                1 if !buf.is_empty() => {
                    buf.drain(..1);
                    vec![0, 0, 0, 0]
                }
                // ClientInit (shared flag): ServerInit.
                2 if !buf.is_empty() => {
                    buf.drain(..1);
                    server_init(title)
                }
                // Client messages after init are read and ignored.
                3 => {
                    buf.clear();
                    break;
                }
                _ => break,
            };
            stage += 1;
            if ws.send(Message::binary(reply)).await.is_err() {
                return;
            }
        }
    }
}

fn server_init(title: &str) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&1024u16.to_be_bytes());
    out.extend_from_slice(&768u16.to_be_bytes());
    // Pixel format: 32 bpp, depth 24, little endian, true colour, RGB max 255, shifts 16/8/0.
    out.extend_from_slice(&[32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
    let name = format!("VM {}", title.rsplit('/').next().unwrap_or(""));
    out.extend_from_slice(&u32::try_from(name.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(name.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_paths_map_to_their_acl_paths() {
        assert_eq!(acl_path("/nodes/pve1/qemu/100/vncwebsocket").as_deref(), Some("/vms/100"));
        assert_eq!(acl_path("/nodes/pve1/vncwebsocket").as_deref(), Some("/nodes/pve1"));
        assert_eq!(acl_path("/nodes/pve1/qemu/100/status"), None);
    }

    #[test]
    fn server_init_names_the_guest() {
        let init = server_init("/vms/100");
        assert_eq!(&init[..4], &[4, 0, 3, 0]);
        assert!(init.ends_with(b"VM 100"));
    }
}
