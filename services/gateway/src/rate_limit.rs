//! Rate limits: GCRA (the generic cell rate algorithm: one "theoretical arrival time" per key,
//! no counters, no windows) keyed by API key, else user, else client address, with one quota
//! per [`Tier`] from configuration.
//!
//! - Local: a sharded in-process map. A key whose arrival time has passed is equivalent to an
//!   absent one, so such keys are forgotten when a shard fills up (idle keys cost nothing);
//!   past [`LocalLimiter`]'s capacity an arbitrary entry is evicted, so memory stays bounded.
//! - Shared (`--rate-limit-redis`): the same algorithm as one Lua script on Redis (time from
//!   Redis `TIME`, so replicas need no synchronised clocks), so every gateway replica spends
//!   one budget. When Redis does not answer within its timeout the local limiter decides
//!   (logged at most every 10 s, counted in `cinerec_gateway_rate_limit_fallbacks_total`).
//!
//! Every answer carries the IETF `RateLimit-Policy` and `RateLimit` headers
//! (draft-ietf-httpapi-ratelimit-headers: `"user";q=100;w=60` and `"user";r=42;t=3`); a refusal
//! is 429 with `Retry-After`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use contract::ErrorKind;
use fred::prelude::{ClientLike, Config as FredConfig, Options, ReconnectPolicy, Value};
use fred::types::{Builder, ClusterHash, CustomCommand};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::app::AppState;
use crate::auth::Principal;
use crate::problem::Problem;

/// Who a limit applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, EncodeLabelSet)]
pub struct TierLabel {
    /// `anonymous`, `user` or `key`.
    pub tier: &'static str,
}

/// The kinds of client, each with its own quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// No credentials: keyed by client address.
    Anonymous,
    /// A signed-in user.
    User,
    /// An API key.
    Key,
}

impl Tier {
    /// The name in headers and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Anonymous => "anonymous",
            Self::User => "user",
            Self::Key => "key",
        }
    }
}

/// A quota: `rate` requests per `period` on average, bursts of up to `burst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Requests per period.
    pub rate: u32,
    /// The period.
    pub period: Duration,
    /// Requests allowed at once after an idle spell.
    pub burst: u32,
}

impl Quota {
    /// The time one request costs.
    pub fn emission(&self) -> Duration {
        self.period / self.rate
    }
}

/// Why a quota does not parse.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a quota: expected RATE/PERIOD[:BURST] with PERIOD s, m or h, e.g. 100/s:200 or 600/m")]
pub struct QuotaError(String);

impl FromStr for Quota {
    type Err = QuotaError;

    /// `RATE/PERIOD[:BURST]`, e.g. `20/s`, `600/m:100`; the burst defaults to the rate.
    fn from_str(text: &str) -> Result<Self, QuotaError> {
        let fail = || QuotaError(text.to_owned());
        let (rate, rest) = text.split_once('/').ok_or_else(fail)?;
        let (period, burst) = rest.split_once(':').map_or((rest, None), |(p, b)| (p, Some(b)));
        let rate: u32 = rate.trim().parse().map_err(|_| fail())?;
        let period = match period.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(fail()),
        };
        let burst: u32 = match burst {
            Some(b) => b.trim().parse().map_err(|_| fail())?,
            None => rate,
        };
        if rate == 0 || burst == 0 {
            return Err(fail());
        }
        Ok(Self { rate, period, burst })
    }
}

/// A decision about one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether it may proceed.
    pub allowed: bool,
    /// Requests still allowed right now after this one.
    pub remaining: u32,
    /// Until the full burst is available again.
    pub reset: Duration,
    /// Until the next request would be allowed (zero when allowed).
    pub retry_after: Duration,
}

/// GCRA on nanosecond clocks: given the key's theoretical arrival time `tat` (absent or past:
/// idle), the decision at `now` and the new arrival time to store when allowed.
pub fn gcra(tat: Option<u64>, now: u64, quota: &Quota) -> (Decision, Option<u64>) {
    let emission = quota.emission().as_nanos() as u64;
    let limit = emission * u64::from(quota.burst);
    let tat = tat.unwrap_or(now).max(now);
    let new_tat = tat + emission;
    let debt = new_tat - now;
    if debt > limit {
        let decision = Decision {
            allowed: false,
            remaining: 0,
            reset: Duration::from_nanos(tat - now),
            retry_after: Duration::from_nanos(debt - limit),
        };
        return (decision, None);
    }
    let remaining = ((limit - debt) / emission) as u32;
    (
        Decision { allowed: true, remaining, reset: Duration::from_nanos(debt), retry_after: Duration::ZERO },
        Some(new_tat),
    )
}

const SHARDS: usize = 16;

/// The in-process limiter: arrival times per key in [`SHARDS`] locked maps.
#[derive(Debug)]
pub struct LocalLimiter {
    shards: Vec<Mutex<HashMap<String, u64>>>,
    per_shard: usize,
    epoch: Instant,
}

impl LocalLimiter {
    /// Remembers at most about `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            epoch: Instant::now(),
        }
    }

    /// Nanoseconds since this limiter was made.
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Decides for `key` now.
    pub fn check(&self, key: &str, quota: &Quota) -> Decision {
        self.check_at(key, quota, self.now())
    }

    /// Decides for `key` at `now` (nanoseconds on this limiter's clock).
    pub fn check_at(&self, key: &str, quota: &Quota, now: u64) -> Decision {
        let shard = &self.shards[shard_of(key)];
        let mut map = shard.lock().expect("a rate-limit shard is never poisoned");
        let (decision, new_tat) = gcra(map.get(key).copied(), now, quota);
        if let Some(new_tat) = new_tat {
            if !map.contains_key(key) && map.len() >= self.per_shard {
                map.retain(|_, &mut tat| tat > now);
                if map.len() >= self.per_shard
                    && let Some(victim) = map.keys().next().cloned()
                {
                    map.remove(&victim);
                }
            }
            map.insert(key.to_owned(), new_tat);
        }
        decision
    }

    /// Keys remembered now.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().expect("a rate-limit shard is never poisoned").len()).sum()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn shard_of(key: &str) -> usize {
    // FNV-1a: cheap and good enough to spread keys over the shards.
    let hash =
        key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    (hash % SHARDS as u64) as usize
}

/// The GCRA script: KEYS[1] the key, ARGV[1] the emission interval and ARGV[2] the burst, in
/// microseconds and requests; returns `{allowed, remaining, reset_us, retry_after_us}`.
const GCRA_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local emission = tonumber(ARGV[1])
local limit = emission * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + emission
local debt = new_tat - now
if debt > limit then
  return {0, 0, tat - now, debt - limit}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil(debt / 1000) + 1)
return {1, math.floor((limit - debt) / emission), debt, 0}
";

/// The shared limiter on Redis.
pub struct RedisLimiter {
    client: fred::clients::Client,
    options: Options,
    sha: String,
    prefix: String,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

/// Why the shared limiter could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("rate-limit Redis: {0}")]
pub struct RedisLimiterError(#[source] fred::error::Error);

impl RedisLimiter {
    /// A client for `url` that reconnects in the background; each decision waits at most
    /// `timeout` for Redis. Waits up to `connect_wait` for the first connection and loads the
    /// script then, so the first requests are decided on Redis rather than locally; a Redis that
    /// is down at startup is logged and the local limiter decides until it answers.
    pub async fn connect(
        url: &str,
        prefix: &str,
        timeout: Duration,
        connect_wait: Duration,
    ) -> Result<Self, RedisLimiterError> {
        let config = FredConfig::from_url(url).map_err(RedisLimiterError)?;
        let client = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = timeout.max(Duration::from_millis(200));
                c.internal_command_timeout = Duration::from_secs(1);
                c.max_command_attempts = 1;
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
            .build()
            .map_err(RedisLimiterError)?;
        let _connection = client.connect();
        let options =
            Options { timeout: Some(timeout), fail_fast: true, max_attempts: Some(1), ..Options::default() };
        let limiter =
            Self { client, options, sha: fred::util::sha1_hash(GCRA_LUA), prefix: prefix.to_owned() };
        let ready = async {
            limiter.client.wait_for_connect().await?;
            limiter.load_script().await
        };
        match tokio::time::timeout(connect_wait, ready).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "shared rate limiter unavailable at startup: limiting locally until Redis answers")
            }
            Err(_) => tracing::warn!(
                waited_ms = connect_wait.as_millis() as u64,
                "shared rate limiter unreachable at startup: limiting locally until Redis answers"
            ),
        }
        Ok(limiter)
    }

    async fn load_script(&self) -> Result<(), fred::error::Error> {
        self.raw("SCRIPT", vec!["LOAD".into(), GCRA_LUA.into()]).await.map(drop)
    }

    async fn raw(&self, command: &'static str, args: Vec<Value>) -> Result<Value, fred::error::Error> {
        let command = CustomCommand::new_static(command, ClusterHash::Random, false);
        self.client.with_options(&self.options).custom::<Value, Value>(command, args).await
    }

    /// Decides for `key` on Redis.
    pub async fn check(&self, key: &str, quota: &Quota) -> Result<Decision, fred::error::Error> {
        let args = vec![
            Value::from(self.sha.as_str()),
            Value::from(1_i64),
            Value::from(format!("{}{key}", self.prefix)),
            Value::from(quota.emission().as_micros().max(1) as i64),
            Value::from(i64::from(quota.burst)),
        ];
        let answer = match self.raw("EVALSHA", args.clone()).await {
            Err(err) if err.details().starts_with("NOSCRIPT") => {
                self.load_script().await?;
                self.raw("EVALSHA", args).await?
            }
            other => other?,
        };
        let numbers: Vec<i64> = match answer {
            Value::Array(values) => values.into_iter().filter_map(|v| v.as_i64()).collect(),
            _ => vec![],
        };
        let &[allowed, remaining, reset_us, retry_us] = numbers.as_slice() else {
            return Err(fred::error::Error::new(
                fred::error::ErrorKind::Parse,
                "unexpected GCRA script answer",
            ));
        };
        let micros = |us: i64| Duration::from_micros(us.max(0) as u64);
        Ok(Decision {
            allowed: allowed == 1,
            remaining: remaining.max(0) as u32,
            reset: micros(reset_us),
            retry_after: micros(retry_us),
        })
    }
}

/// Proxy networks whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl FromStr for TrustedProxies {
    type Err = String;

    /// Comma-separated CIDRs (`10.0.0.0/8,::1/128`); a bare address is one host.
    fn from_str(text: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for cidr in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            let (addr, bits) = cidr.split_once('/').map_or((cidr, None), |(a, b)| (a, Some(b)));
            let addr: IpAddr = addr.parse().map_err(|_| format!("{cidr:?} is not an address or CIDR"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                Some(b) => b
                    .parse::<u8>()
                    .ok()
                    .filter(|&b| b <= max)
                    .ok_or_else(|| format!("{cidr:?}: bad prefix length"))?,
                None => max,
            };
            nets.push((addr, bits));
        }
        Ok(Self(nets))
    }
}

impl TrustedProxies {
    /// Whether `ip` is inside one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|&(net, bits)| match (canonical(net), ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(&net.octets(), &ip.octets(), bits),
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_eq(&net.octets(), &ip.octets(), bits),
            _ => false,
        })
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy, the right-most
    /// `X-Forwarded-For` entry that is not itself a trusted proxy.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        hops.into_iter().rev().find(|&hop| !self.contains(hop)).unwrap_or(peer)
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (whole, rest) = (usize::from(bits / 8), bits % 8);
    a[..whole] == b[..whole] && (rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0)
}

/// The configured limits.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Anonymous clients (per address).
    pub anonymous: Quota,
    /// Signed-in users.
    pub user: Quota,
    /// API keys.
    pub key: Quota,
}

impl Limits {
    fn quota(&self, tier: Tier) -> &Quota {
        match tier {
            Tier::Anonymous => &self.anonymous,
            Tier::User => &self.user,
            Tier::Key => &self.key,
        }
    }
}

/// The gateway's limiter: shared on Redis when configured, else (and when Redis fails) local.
#[derive(Debug)]
pub struct RateLimiter {
    limits: Limits,
    proxies: TrustedProxies,
    local: LocalLimiter,
    shared: Option<RedisLimiter>,
    limited: Family<TierLabel, Counter>,
    fallbacks: Counter,
    fallback_log: Mutex<events::consumer::Throttle>,
}

impl RateLimiter {
    /// A limiter with these limits; `shared` makes the budget common to every replica using
    /// the same Redis. Registers its metrics in `registry`.
    pub fn new(
        limits: Limits,
        proxies: TrustedProxies,
        shared: Option<RedisLimiter>,
        registry: &mut Registry,
    ) -> Self {
        let limited = Family::<TierLabel, Counter>::default();
        registry.register(
            "cinerec_gateway_rate_limited",
            "Requests refused with 429, by client tier",
            limited.clone(),
        );
        let fallbacks = Counter::default();
        registry.register(
            "cinerec_gateway_rate_limit_fallbacks",
            "Decisions taken by the local limiter because the shared Redis limiter did not answer",
            fallbacks.clone(),
        );
        Self {
            limits,
            proxies,
            local: LocalLimiter::new(100_000),
            shared,
            limited,
            fallbacks,
            fallback_log: Mutex::new(events::consumer::Throttle::default()),
        }
    }

    /// Decides for `key` of `tier`.
    pub async fn check(&self, tier: Tier, key: &str) -> Decision {
        let quota = self.limits.quota(tier);
        if let Some(shared) = &self.shared {
            match shared.check(key, quota).await {
                Ok(decision) => return decision,
                Err(err) => {
                    self.fallbacks.inc();
                    let held = self.fallback_log.lock().expect("the log throttle is never poisoned").allow();
                    if let Some(held_back) = held {
                        tracing::warn!(error = %err, held_back, "shared rate limiter unavailable: limiting locally");
                    }
                }
            }
        }
        self.local.check(key, quota)
    }
}

fn headers_for(tier: Tier, quota: &Quota, decision: &Decision, headers: &mut HeaderMap) {
    let window = (quota.emission() * quota.burst).as_secs().max(1);
    let policy = format!("\"{}\";q={};w={window}", tier.as_str(), quota.burst);
    let state = format!(
        "\"{}\";r={};t={}",
        tier.as_str(),
        decision.remaining,
        decision.reset.as_secs_f64().ceil() as u64
    );
    for (name, value) in [("ratelimit-policy", policy), ("ratelimit", state)] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

/// The API's middleware (after [`crate::auth::authenticate`]): 429 with `Retry-After` as a
/// problem document past the client's quota; the `RateLimit` headers on every answer.
pub async fn limit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    limit_answering(&state, peer, request, next, true).await
}

/// The web app's middleware: the same limits, a refusal is a readable page.
pub async fn limit_pages(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    limit_answering(&state, peer, request, next, false).await
}

async fn limit_answering(
    state: &AppState,
    peer: SocketAddr,
    request: Request,
    next: Next,
    api: bool,
) -> Response {
    let limiter = &state.rate_limiter;
    let (tier, key) =
        request.extensions().get::<Principal>().and_then(Principal::limit_key).unwrap_or_else(|| {
            (Tier::Anonymous, format!("ip:{}", limiter.proxies.client_ip(peer.ip(), request.headers())))
        });
    let decision = limiter.check(tier, &key).await;
    let quota = limiter.limits.quota(tier);
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        limiter.limited.get_or_create(&TierLabel { tier: tier.as_str() }).inc();
        let seconds = decision.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        let detail = format!("too many requests; retry in {seconds} s");
        // The web app's pages answer with a page, the API with a problem document.
        let mut response = if api {
            Problem::new(ErrorKind::RateLimited, detail).into_response()
        } else {
            crate::web::page_error(axum::http::StatusCode::TOO_MANY_REQUESTS, &detail)
        };
        response.headers_mut().insert("retry-after", HeaderValue::from(seconds));
        response
    };
    headers_for(tier, quota, &decision, response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn quotas_parse() {
        assert_eq!(
            "20/s".parse::<Quota>().unwrap(),
            Quota { rate: 20, period: Duration::from_secs(1), burst: 20 }
        );
        assert_eq!("600/m:50".parse::<Quota>().unwrap().burst, 50);
        for bad in ["", "10", "0/s", "10/d", "10/s:0", "x/s"] {
            assert!(bad.parse::<Quota>().is_err(), "{bad}");
        }
    }

    #[test]
    fn gcra_allows_the_burst_then_one_per_emission() {
        let quota: Quota = "2/s:3".parse().unwrap();
        let limiter = LocalLimiter::new(10);
        let at = |t: u64| limiter.check_at("k", &quota, t);
        let burst: Vec<_> = (0..4).map(|_| at(0)).collect();
        assert_eq!(burst.iter().map(|d| d.allowed).collect::<Vec<_>>(), [true, true, true, false]);
        assert_eq!(burst.iter().map(|d| d.remaining).collect::<Vec<_>>(), [2, 1, 0, 0]);
        assert_eq!(burst[3].retry_after, Duration::from_millis(500));
        assert!(!at(SECOND / 2 - 1).allowed);
        assert!(at(SECOND / 2).allowed);
        assert!(limiter.check_at("other", &quota, SECOND / 2).allowed, "keys are independent");
    }

    #[test]
    fn idle_keys_are_forgotten_and_memory_is_bounded() {
        let quota: Quota = "1/s".parse().unwrap();
        let limiter = LocalLimiter::new(SHARDS * 4);
        for i in 0..1000 {
            limiter.check_at(&format!("k{i}"), &quota, 0);
        }
        assert!(limiter.len() <= SHARDS * 4, "{}", limiter.len());
        for i in 0..SHARDS * 10 {
            limiter.check_at(&format!("late{i}"), &quota, 10 * SECOND);
        }
        // Everything from t=0 was idle by t=10 s: only new keys remain.
        let shards = limiter.shards.iter().map(|s| s.lock().unwrap().keys().all(|k| k.starts_with("late")));
        assert!(shards.into_iter().all(|only_late| only_late));
    }

    #[test]
    fn forwarded_for_is_believed_from_trusted_proxies_only() {
        let proxies: TrustedProxies = "10.0.0.0/8, ::1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9, 198.51.100.7, 10.1.2.3"));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &headers), ip("198.51.100.7"));
        assert_eq!(proxies.client_ip(ip("::1"), &headers), ip("198.51.100.7"));
        assert_eq!(proxies.client_ip(ip("192.0.2.1"), &headers), ip("192.0.2.1"), "untrusted peer");
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
        assert!(proxies.contains(ip("::ffff:10.9.9.9")));
        assert!(!proxies.contains(ip("11.0.0.1")));
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
    }
}
