//! Password guessing is slowed per account name and per client address: after a run of
//! failed logins under either, logins under it are refused for a while, whatever password
//! comes. The runs live in the database ([`LoginFailureStore`]), so a restart forgives
//! nothing and every instance of a deployment counts together.
//!
//! The address is the socket's peer, or, behind a proxy the settings trust, the client
//! the proxy names in `X-Forwarded-For` ([`client_address`]). An IPv6 client is counted
//! by its /64, the block one subscriber holds. Unknown account names count like known
//! ones, so a locked answer does not tell which accounts exist.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use fieldloop_core::time::{Millis, MINUTE};

use crate::error::{Result, ServerError};
use crate::state::AppState;

/// Failed logins in a row for one account name before it is locked.
pub const MAX_FAILURES: u32 = 5;
/// Failed logins from one client address (any account names) before it is locked: more
/// than one person's typos, since an office or a phone carrier shares one address.
pub const MAX_ADDRESS_FAILURES: u32 = 20;
/// How long a lock lasts, counted from the failure that set it.
pub const LOCK_FOR: Millis = 15 * MINUTE;

/// How logins are throttled (`serve --login-max-failures …`).
#[derive(Debug, Clone)]
pub struct ThrottleSettings {
    pub per_account: u32,
    pub per_address: u32,
    pub lock_for: Millis,
    /// Proxies whose `X-Forwarded-For` is believed; empty (the default): none, the peer
    /// address is the client.
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            per_account: MAX_FAILURES,
            per_address: MAX_ADDRESS_FAILURES,
            lock_for: LOCK_FOR,
            trusted_proxies: Vec::new(),
        }
    }
}

/// The address a request came from, as far as the server can tell: `None` when it was
/// not served from a socket (in-process tests).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> std::result::Result<Self, Infallible> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        let trusted = &state.config.login_throttle.trusted_proxies;
        Ok(ClientAddr(
            peer.map(|peer| client_address(peer, &parts.headers, trusted)),
        ))
    }
}

/// The client behind `peer`: `peer` itself unless it is a trusted proxy; then the
/// right-most `X-Forwarded-For` hop that is not a trusted proxy (hops further left were
/// written by the client and prove nothing).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.contains(&ip.to_canonical());
    let mut client = peer.to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for hop in hops.into_iter().rev() {
        // A hop a trusted proxy wrote but that is no address: stop at the proxy.
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip.to_canonical();
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

fn account_key(username: &str) -> String {
    format!("account:{username}")
}

fn address_key(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => format!("address:{v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("address:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

fn keys(username: &str, address: Option<IpAddr>) -> Vec<String> {
    let mut keys = vec![account_key(username)];
    keys.extend(address.map(address_key));
    keys
}

/// Refuses with 429 and `Retry-After` while the account name or the address is locked.
pub async fn check(
    state: &AppState,
    username: &str,
    address: Option<IpAddr>,
    now: Millis,
) -> Result<()> {
    let settings = &state.config.login_throttle;
    let runs = state
        .login_failures
        .failure_runs(keys(username, address))
        .await?;
    let locked = runs
        .iter()
        .filter_map(|run| {
            let limit = if run.key.starts_with("account:") {
                settings.per_account
            } else {
                settings.per_address
            };
            let until = run.last_at.saturating_add(settings.lock_for);
            (run.failures >= limit && now < until).then_some((until, &run.key))
        })
        .max_by_key(|(until, _)| *until);
    let Some((until, key)) = locked else {
        return Ok(());
    };
    let wait_secs = u64::try_from(until - now)
        .unwrap_or(0)
        .div_ceil(1000)
        .max(1);
    let who = if key.starts_with("account:") {
        "该账号"
    } else {
        "此网络地址"
    };
    Err(ServerError::TooMany {
        code: "too_many_attempts",
        reason: format!(
            "{who}登录失败次数过多，请 {} 分钟后再试",
            wait_secs.div_ceil(60)
        ),
        retry_after_secs: wait_secs,
    })
}

/// Counts a failed login under the account name and the address.
pub async fn failed(
    state: &AppState,
    username: &str,
    address: Option<IpAddr>,
    now: Millis,
) -> Result<()> {
    let window = state.config.login_throttle.lock_for;
    state
        .login_failures
        .add_failure(keys(username, address), now, window)
        .await?;
    Ok(())
}

/// A successful login ends the account name's run. The address keeps its count: a
/// guesser must not clear it by logging into an account of their own in between.
pub async fn succeeded(state: &AppState, username: &str) -> Result<()> {
    state
        .login_failures
        .clear_failures(account_key(username))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let peer: IpAddr = "198.51.100.9".parse().unwrap();
        let spoofed = forwarded("203.0.113.5");
        assert_eq!(client_address(peer, &spoofed, &[]), peer);
        assert_eq!(client_address(peer, &spoofed, &[proxy]), peer);
        assert_eq!(
            client_address(proxy, &spoofed, &[proxy]),
            "203.0.113.5".parse::<IpAddr>().unwrap()
        );
        // The client's own entries sit left of what the proxy appended.
        let chain = forwarded("1.2.3.4, 203.0.113.5, 10.0.0.2");
        let second: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(
            client_address(proxy, &chain, &[proxy, second]),
            "203.0.113.5".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_address(proxy, &forwarded("junk"), &[proxy]), proxy);
        assert_eq!(client_address(proxy, &HeaderMap::new(), &[proxy]), proxy);
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_block() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(
            address_key(mapped.to_canonical()),
            address_key("192.0.2.7".parse().unwrap())
        );
    }
}
