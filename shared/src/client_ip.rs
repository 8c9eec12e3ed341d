//! Who is calling (SPEC §3.1 `allowedIps`): the peer address, or, when the peer is a trusted
//! proxy (`HOOKFLOW_TRUSTED_PROXIES`), the right-most `X-Forwarded-For` address that is not
//! one. Walking from the right matters: every hop appends, so only the entries our own proxies
//! added can be believed, and whatever a caller wrote itself sits to their left.
//! `X-Real-IP` and `Forwarded` are not believed.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use crate::model::Problem;

/// Most entries one allow-list may hold.
pub const MAX_ALLOWED: usize = 256;

/// Parses `allowedIps`: CIDRs, or bare addresses (a /32 or /128).
pub fn parse_allow_list(entries: &[String]) -> Result<Vec<IpNet>, Vec<Problem>> {
    let mut problems = Vec::new();
    if entries.len() > MAX_ALLOWED {
        problems.push(Problem::new("trigger.allowedIps", format!("at most {MAX_ALLOWED} entries")));
    }
    let mut networks = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        match parse_network(entry) {
            Some(network) => networks.push(network),
            None => problems.push(Problem::new(
                format!("trigger.allowedIps[{i}]"),
                format!("not an IP address or CIDR: {entry:?}"),
            )),
        }
    }
    if problems.is_empty() {
        Ok(networks)
    } else {
        Err(problems)
    }
}

/// A CIDR or a bare address; IPv4-mapped IPv6 forms count as IPv4.
pub fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    let network = match text.parse::<IpNet>() {
        Ok(network) => network,
        Err(_) => IpNet::from(text.parse::<IpAddr>().ok()?),
    };
    Some(match network {
        IpNet::V6(v6) => match v6.addr().to_ipv4_mapped() {
            Some(v4) if v6.prefix_len() >= 96 => IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).ok()?,
            _ => network.trunc(),
        },
        IpNet::V4(_) => network.trunc(),
    })
}

/// Whether `ip` is inside one of `networks`.
pub fn is_within(ip: IpAddr, networks: &[IpNet]) -> bool {
    let ip = ip.to_canonical();
    networks.iter().any(|network| network.contains(&ip))
}

/// The calling client: `peer`, or, when `peer` is a trusted proxy, the right-most address of
/// the `X-Forwarded-For` values (each header in order, each a comma list) that is not a
/// trusted proxy; when every hop is trusted, the left-most. `None` when the entry that decides
/// is not an address: such a request cannot be placed, so it is not let in.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer.to_canonical();
    if !is_within(peer, trusted) {
        return Some(peer);
    }
    let hops: Vec<&str> =
        forwarded_for.into_iter().flat_map(|value| value.split(',')).map(str::trim).collect();
    let mut leftmost = peer;
    for hop in hops.iter().rev() {
        let ip = parse_hop(hop)?;
        if !is_within(ip, trusted) {
            return Some(ip);
        }
        leftmost = ip;
    }
    Some(leftmost)
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let ip = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse::<IpAddr>().ok())?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        parse_allow_list(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn allow_lists() {
        let list = nets(&["10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "::ffff:172.16.0.0/108"]);
        assert!(is_within(ip("10.200.0.1"), &list));
        assert!(is_within(ip("192.168.1.7"), &list));
        assert!(!is_within(ip("192.168.1.8"), &list));
        assert!(is_within(ip("2001:db8::1"), &list));
        assert!(is_within(ip("::ffff:10.0.0.1"), &list), "mapped peers count as IPv4");
        assert!(is_within(ip("172.16.3.4"), &list), "mapped networks count as IPv4");
        assert!(!is_within(ip("11.0.0.1"), &list));
        let problems = parse_allow_list(&["10.0.0.0/33".into(), "x".into(), "1.2.3.4".into()]).unwrap_err();
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, vec!["trigger.allowedIps[0]", "trigger.allowedIps[1]"]);
        assert!(parse_allow_list(&vec!["1.2.3.4".to_string(); MAX_ALLOWED + 1]).is_err());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        // An untrusted peer is the client, whatever it claims.
        assert_eq!(client_ip(ip("203.0.113.9"), ["198.51.100.1"], &trusted), Some(ip("203.0.113.9")));
        // Behind our proxies: the right-most address that is not ours.
        assert_eq!(
            client_ip(ip("127.0.0.1"), ["1.1.1.1, 198.51.100.7, 10.0.0.5"], &trusted),
            Some(ip("198.51.100.7")),
            "a spoofed left entry is ignored"
        );
        // Repeated headers are read in order.
        assert_eq!(
            client_ip(ip("127.0.0.1"), ["1.1.1.1", "198.51.100.7", "10.0.0.5"], &trusted),
            Some(ip("198.51.100.7"))
        );
        // All hops trusted: the left-most.
        assert_eq!(client_ip(ip("127.0.0.1"), ["10.0.0.9, 10.0.0.5"], &trusted), Some(ip("10.0.0.9")));
        // No header: the proxy itself.
        assert_eq!(client_ip(ip("127.0.0.1"), [], &trusted), Some(ip("127.0.0.1")));
        // Ports and brackets; IPv4-mapped peers.
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), ["[2001:db8::1]:443"], &trusted),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(client_ip(ip("127.0.0.1"), ["198.51.100.7:5000"], &trusted), Some(ip("198.51.100.7")));
        // Garbage where the client should be: no client.
        assert_eq!(client_ip(ip("127.0.0.1"), ["198.51.100.7, junk"], &trusted), None);
        assert_eq!(client_ip(ip("127.0.0.1"), ["junk, 198.51.100.7"], &trusted), Some(ip("198.51.100.7")));
    }
}
