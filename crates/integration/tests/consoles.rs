//! Consoles through `vncwebsocket`, as noVNC and xterm.js in the GUI (and console clients
//! such as proxmoxer users') open them: a `termproxy` ticket opens a terminal that shows a
//! banner and echoes, a `vncproxy` ticket opens RFB up to the server's init, and a wrong or
//! stale ticket is refused before the upgrade.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use support::*;
use tokio_tungstenite::tungstenite::Message;

/// Open the console WebSocket for `path` (below `/api2/json`) with the console `ticket`.
async fn open(
    h: &Harness,
    path: &str,
    port: u64,
    ticket: &str,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
    tokio_tungstenite::tungstenite::Error,
> {
    let enc = percent_encoding::utf8_percent_encode(ticket, percent_encoding::NON_ALPHANUMERIC);
    let uri = format!("wss://localhost/api2/json{path}/vncwebsocket?port={port}&vncticket={enc}");
    let req = http::Request::builder()
        .uri(uri)
        .header("Host", "localhost")
        .header("Authorization", format!("PVEAPIToken={}", h.sim.token.expose()))
        .header("Sec-WebSocket-Protocol", "binary")
        .header(
            "Sec-WebSocket-Key",
            tokio_tungstenite::tungstenite::handshake::client::generate_key(),
        )
        .header("Sec-WebSocket-Version", "13")
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .body(())
        .unwrap();
    tokio_tungstenite::client_async(req, tls_stream(h).await).await.map(|(ws, _)| ws)
}

async fn next_bytes<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Vec<u8>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match ws.next().await.unwrap().unwrap() {
        Message::Binary(b) => b.to_vec(),
        Message::Text(t) => t.as_bytes().to_vec(),
        other => panic!("unexpected {other:?}"),
    }
}

async fn guest_100(h: &Harness) -> String {
    let node = h.sim.nodes[0].clone();
    let (s, body) = form(h, "POST", &format!("/nodes/{node}/qemu"), "vmid=100&name=console").await;
    assert_eq!(s, 200, "{body}");
    h.sim.settle();
    format!("/nodes/{node}/qemu/100")
}

#[tokio::test]
async fn a_termproxy_ticket_opens_a_terminal_that_shows_a_banner_and_echoes() {
    let h = harness().await;
    let guest = guest_100(&h).await;
    let (s, body) = form(&h, "POST", &format!("{guest}/termproxy"), "").await;
    assert_eq!(s, 200, "{body}");
    let d: &Value = &body["data"];
    let (port, ticket, user) =
        (d["port"].as_u64().unwrap(), d["ticket"].as_str().unwrap(), d["user"].as_str().unwrap());

    let mut ws = open(&h, &guest, port, ticket).await.unwrap();
    ws.send(Message::binary(format!("{user}:{ticket}\n").into_bytes())).await.unwrap();
    let banner = String::from_utf8(next_bytes(&mut ws).await).unwrap();
    assert!(banner.starts_with("OK"), "{banner}");
    assert!(banner.ends_with(":~# "), "a prompt: {banner}");
    ws.send(Message::binary(b"1:80:24:".to_vec())).await.unwrap();
    ws.send(Message::binary(b"0:3:ls\r".to_vec())).await.unwrap();
    let echo = String::from_utf8(next_bytes(&mut ws).await).unwrap();
    assert!(echo.starts_with("ls\r\n") && echo.ends_with(":~# "), "{echo:?}");

    // The first message must carry the same ticket, or the terminal closes.
    let mut ws = open(&h, &guest, port, ticket).await.unwrap();
    ws.send(Message::binary(format!("{user}:PVEVNC:0::forged\n").into_bytes())).await.unwrap();
    assert!(matches!(ws.next().await, Some(Ok(Message::Close(_))) | None), "closed");
}

#[tokio::test]
async fn a_vncproxy_ticket_opens_rfb_up_to_the_servers_init() {
    let h = harness().await;
    let guest = guest_100(&h).await;
    let (_, body) = form(&h, "POST", &format!("{guest}/vncproxy"), "websocket=1").await;
    let (port, ticket) =
        (body["data"]["port"].as_u64().unwrap(), body["data"]["ticket"].as_str().unwrap());
    let mut ws = open(&h, &guest, port, ticket).await.unwrap();
    assert_eq!(next_bytes(&mut ws).await, b"RFB 003.008\n");
    ws.send(Message::binary(b"RFB 003.008\n".to_vec())).await.unwrap();
    assert_eq!(next_bytes(&mut ws).await, [1, 1], "one security type: None");
    ws.send(Message::binary(vec![1])).await.unwrap();
    assert_eq!(next_bytes(&mut ws).await, [0, 0, 0, 0], "security result OK");
    ws.send(Message::binary(vec![1])).await.unwrap();
    let init = next_bytes(&mut ws).await;
    assert_eq!(&init[..4], &[4, 0, 3, 0], "1024x768");
    assert!(init.ends_with(b"VM 100"));
}

#[tokio::test]
async fn a_wrong_or_stale_console_ticket_is_refused_before_the_upgrade() {
    let h = harness().await;
    let guest = guest_100(&h).await;
    let (_, body) = form(&h, "POST", &format!("{guest}/termproxy"), "").await;
    let (port, ticket) = (
        body["data"]["port"].as_u64().unwrap(),
        body["data"]["ticket"].as_str().unwrap().to_string(),
    );
    let refused = |r: Result<_, tokio_tungstenite::tungstenite::Error>| match r {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("{e}"),
        Ok(_) => 101,
    };
    assert_eq!(refused(open(&h, &guest, port, &ticket.replace("::", "::x")).await), 401);
    assert_eq!(refused(open(&h, &guest, port + 1, &ticket).await), 401, "another port");
    let other = guest.replace("/100", "/101");
    assert_eq!(refused(open(&h, &other, port, &ticket).await), 401, "another guest");
    h.sim.advance(60_000);
    assert_eq!(refused(open(&h, &guest, port, &ticket).await), 401, "a minute later");
}
