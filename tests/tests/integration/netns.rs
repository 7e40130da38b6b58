//! Hosts for the multi-host tests: network namespaces joined to this one
//! by veth pairs, a TCP forwarder (PostgreSQL listens on loopback only),
//! and readers of the client's log.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// A host: a network namespace joined to this one by a veth pair,
/// `10.231.N.1` on this side, `10.231.N.2` inside; with `db_link`, a second
/// pair for the database alone (`10.232.N.1` / `10.232.N.2`), which can be
/// cut without cutting the node. Removed on drop.
pub struct Host {
    /// The namespace's name.
    pub ns: String,
    veth: String,
    db_veth: Option<String>,
    /// The host's number (its addresses).
    pub n: u8,
}

fn link(ns: &str, veth: &str, peer: &str, net: &str) -> Result<(), String> {
    let _ = ip(&["link", "del", veth]);
    ip(&["link", "add", veth, "type", "veth", "peer", "name", peer])?;
    ip(&["link", "set", peer, "netns", ns])?;
    ip(&["addr", "add", &format!("{net}.1/30"), "dev", veth])?;
    ip(&["link", "set", veth, "up"])?;
    ip(&["netns", "exec", ns, "ip", "addr", "add", &format!("{net}.2/30"), "dev", peer])?;
    ip(&["netns", "exec", ns, "ip", "link", "set", peer, "up"])
}

impl Host {
    /// Makes host `n` (with its database link if `db_link`).
    pub fn new(n: u8, db_link: bool) -> Result<Self, String> {
        let ns = format!("poolvc-ha-{n}");
        // Leftovers of an interrupted run.
        let _ = ip(&["netns", "del", &ns]);
        ip(&["netns", "add", &ns])?;
        let mut host = Self { ns: ns.clone(), veth: format!("pvha{n}"), db_veth: None, n };
        link(&ns, &host.veth, &format!("pvhb{n}"), &format!("10.231.{n}"))?;
        ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"])?;
        if db_link {
            let v = format!("pvda{n}");
            link(&ns, &v, &format!("pvdb{n}"), &format!("10.232.{n}"))?;
            host.db_veth = Some(v);
        }
        Ok(host)
    }

    /// This host's gateway: the address of this side of its veth pair.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 231, self.n, 1)
    }

    /// This side of the database link (the gateway without one).
    pub fn db_gateway(&self) -> Ipv4Addr {
        match self.db_veth {
            Some(_) => Ipv4Addr::new(10, 232, self.n, 1),
            None => self.gateway(),
        }
    }

    /// Takes the database link down (`false`) or up again (`true`): the
    /// host keeps its node, and its packets to the database are lost.
    pub fn db_link(&self, up: bool) -> Result<(), String> {
        let v = self.db_veth.as_deref().ok_or("no database link")?;
        ip(&["link", "set", v, if up { "up" } else { "down" }])
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.ns]);
        let _ = ip(&["link", "del", &self.veth]);
        if let Some(v) = &self.db_veth {
            let _ = ip(&["link", "del", v]);
        }
    }
}

/// Hosts `specs` (number, with a database link), or `None` where network
/// namespaces cannot be made (not root): the test says it is skipped,
/// except under `CI=true`, where it must run.
pub fn make_hosts(specs: &[(u8, bool)]) -> Option<Vec<Host>> {
    let made: Vec<Result<Host, String>> = specs.iter().map(|(n, db)| Host::new(*n, *db)).collect();
    if made.iter().all(Result::is_ok) {
        return Some(made.into_iter().flatten().collect());
    }
    let why = made.into_iter().filter_map(Result::err).collect::<Vec<_>>().join("; ");
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but network namespaces cannot be made: {why}");
    eprintln!("SKIPPED: network namespaces cannot be made here (root needed): {why}");
    None
}

/// Forwards TCP from `listen` to `to` (PostgreSQL listens on loopback only).
pub async fn forward(listen: SocketAddr, to: SocketAddr) {
    let l = tokio::net::TcpListener::bind(listen).await.unwrap_or_else(|e| panic!("bind {listen}: {e}"));
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = l.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
}

/// `(user:pass, host:port, database)` of a postgres URL.
pub fn split_url(url: &str) -> (String, SocketAddr, String) {
    let rest = url.strip_prefix("postgres://").expect("postgres:// URL");
    let (auth, rest) = rest.rsplit_once('@').expect("user@host");
    let (hostport, db) = rest.split_once('/').expect("host/db");
    let hostport = if hostport.contains(':') { hostport.to_string() } else { format!("{hostport}:5432") };
    let addr = hostport.parse().unwrap_or_else(|_| {
        use std::net::ToSocketAddrs;
        hostport.to_socket_addrs().unwrap().next().unwrap()
    });
    (auth.to_string(), addr, db.to_string())
}

pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `field: N` from the client's closing `totals VcSummary { .. }` line.
pub fn total(log: &str, field: &str) -> u64 {
    let line = log.lines().find(|l| l.contains("totals VcSummary")).unwrap_or_else(|| panic!("no totals in:\n{log}"));
    let at = line.find(&format!("{field}: ")).unwrap_or_else(|| panic!("no {field} in {line}")) + field.len() + 2;
    line[at..].chars().take_while(|c| c.is_ascii_digit()).collect::<String>().parse().unwrap()
}
