//! One address per node (`--node-addresses`): each node after the first gets a listener of its
//! own, on its own loopback address where the system has them (`127.0.0.2`, `127.0.0.3`, …, on
//! the first node's port, as every PVE node answers on 8006), else on its own port, with a
//! certificate of its own. Every listener serves the whole cluster: a request for another
//! node's resource is answered as pveproxy answers it, by forwarding within the cluster, which
//! here is the one shared world.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::net::TcpListener;

/// A node's listener and the address it got.
#[derive(Debug)]
pub struct NodeListener {
    pub node: String,
    pub listener: TcpListener,
    pub addr: SocketAddr,
}

/// The address to try first for the `index`-th node (0 is the first node's own listener).
fn preferred(main: SocketAddr, index: usize) -> SocketAddr {
    match main.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => {
            let last = u8::try_from(index + 1).unwrap_or(u8::MAX);
            SocketAddr::new(Ipv4Addr::new(127, 0, 0, last).into(), main.port())
        }
        other => SocketAddr::new(other, 0),
    }
}

/// Bind a listener for every node but the first. On loopback each node tries its own address
/// on the main port, then its own address on any port, then the main address on any port.
pub async fn bind(main: SocketAddr, nodes: &[String]) -> std::io::Result<Vec<NodeListener>> {
    let mut out = Vec::new();
    for (i, node) in nodes.iter().enumerate().skip(1) {
        let first = preferred(main, i);
        let tries = [first, SocketAddr::new(first.ip(), 0), SocketAddr::new(main.ip(), 0)];
        let mut bound = None;
        let mut last_err = None;
        for addr in tries {
            match TcpListener::bind(addr).await {
                Ok(l) => {
                    bound = Some(l);
                    break;
                }
                Err(e) => last_err = Some(e),
            }
        }
        let listener = match bound {
            Some(l) => l,
            None => return Err(last_err.unwrap_or_else(|| std::io::Error::other("no address"))),
        };
        let addr = listener.local_addr()?;
        out.push(NodeListener { node: node.clone(), listener, addr });
    }
    Ok(out)
}

/// The address clients reach a listener at (`0.0.0.0` is reached as `127.0.0.1`).
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_nodes_take_consecutive_addresses_on_the_main_port() {
        let main: SocketAddr = "127.0.0.1:8006".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(preferred(main, 1).to_string(), "127.0.0.2:8006");
        assert_eq!(preferred(main, 2).to_string(), "127.0.0.3:8006");
        let any: SocketAddr = "0.0.0.0:8006".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(preferred(any, 1).to_string(), "0.0.0.0:0");
    }
}
