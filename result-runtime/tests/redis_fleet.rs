//! Fleet-wide single-flight across processes: this test binary spawns copies of itself as
//! replicas (the ignored `fleet_child` test, told its role by environment variables), each
//! with its own `ResultCache` tiered on the same `redis-server` nodes. Loads are counted
//! with `INCR` on a control key, and the processes start their bursts on a signal (a Redis
//! list), never on a timer.

mod redis_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::future::join_all;
use redis::AsyncCommands;
use redis_support::RedisServer;
use result_runtime::cache::ResultCache;
use result_runtime::{Category, Code, TaskError};

const PROCS: usize = 4;
const CALLERS: usize = 250;
const LEASE: Duration = Duration::from_secs(1);
/// How long any one wait on a control list may take before the test fails.
const WAIT_S: f64 = 60.0;

const SKU_UNKNOWN: Code = Code::new("SKU_UNKNOWN", Category::NotFound);

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set for a fleet child"))
}

async fn cache(urls: &str, ns: &str) -> ResultCache<String, u64> {
    ResultCache::<String, u64>::builder()
        .ttl(Duration::from_secs(60))
        .negative_ttl(Duration::from_secs(30))
        .redis(urls.split(','))
        .namespace(ns)
        .lease_ttl(LEASE)
        .command_timeout(Duration::from_secs(2))
        .build()
        .await
        .expect("valid settings")
}

/// One replica: its role says what its loader does and what it checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the fleet tests as a child process"]
async fn fleet_child() {
    let Ok(role) = std::env::var("RR_FLEET_ROLE") else { return };
    let ctl = redis::Client::open(env("RR_CTL")).unwrap();
    let mut conn = redis_support::control(&ctl).await;
    let cache = cache(&env("RR_URLS"), &env("RR_NS")).await;
    let _: () = conn.rpush("ctl:ready", std::process::id()).await.unwrap();
    if role != "hang" && role != "finish" {
        let go: Option<(String, String)> = conn.blpop("ctl:go", WAIT_S).await.unwrap();
        assert!(go.is_some(), "go signal");
    }
    let loader = |conn: redis::aio::MultiplexedConnection, role: String| {
        move || async move {
            let mut conn = conn;
            let _: u64 = conn.incr("ctl:loads", 1).await.unwrap();
            if role == "hang" {
                let _: () = conn.rpush("ctl:loading", 1).await.unwrap();
                // Holds the lease until the parent SIGKILLs this process.
                std::future::pending::<()>().await;
            }
            // Long enough that every process's burst overlaps the load.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _: u64 = conn.incr("ctl:done", 1).await.unwrap();
            match role.as_str() {
                "burst_err" => Err(TaskError::new(SKU_UNKNOWN, "no such sku")),
                "burst_retry" => Err(TaskError::new(Code::UNAVAILABLE, "db busy")),
                _ => Ok(42),
            }
        }
    };
    let n = if role == "hang" || role == "finish" { 1 } else { CALLERS };
    let calls = (0..n).map(|_| cache.get_or_load("hot".into(), loader(conn.clone(), role.clone())));
    let results = join_all(calls).await;
    let verdict = results.iter().find_map(|r| {
        let ok = match (role.as_str(), r) {
            ("burst_err", Err(e)) => {
                e.code().name() == "SKU_UNKNOWN"
                    && e.client_message() == "no such sku"
                    && !e.is_retryable()
            }
            ("burst_retry", Err(e)) => e.code() == Code::UNAVAILABLE && e.is_retryable(),
            ("burst_ok" | "finish", Ok(v)) => *v == 42,
            _ => false,
        };
        (!ok).then(|| format!("{role}: unexpected {r:?}"))
    });
    let report = verdict.unwrap_or_else(|| format!("ok {}", results.len()));
    let _: () = conn.rpush("ctl:results", &report).await.unwrap();
}

fn spawn(role: &str, urls: &str, ns: &str, ctl: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["fleet_child", "--exact", "--ignored", "--nocapture", "--test-threads", "1"])
        .env("RR_FLEET_ROLE", role)
        .env("RR_URLS", urls)
        .env("RR_NS", ns)
        .env("RR_CTL", ctl)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn the test binary")
}

/// Kills the children that are still running when a test ends (or fails).
struct Fleet(Vec<Child>);

impl Drop for Fleet {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn pop(conn: &mut redis::aio::MultiplexedConnection, list: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let v: Option<(String, String)> = conn.blpop(list, WAIT_S).await.unwrap();
        out.push(v.unwrap_or_else(|| panic!("{list}: only {} of {n} arrived", out.len())).1);
    }
    out
}

/// Runs `PROCS` replicas with `role` on one cold key; returns the control connection.
async fn burst(role: &str, servers: &[RedisServer]) -> redis::aio::MultiplexedConnection {
    let urls: Vec<String> = servers.iter().map(RedisServer::url).collect();
    let urls = urls.join(",");
    let ctl = servers[0].url();
    let mut conn = servers[0].conn().await;
    let mut fleet = Fleet((0..PROCS).map(|_| spawn(role, &urls, role, &ctl)).collect());
    pop(&mut conn, "ctl:ready", PROCS).await;
    for _ in 0..PROCS {
        let _: () = conn.rpush("ctl:go", 1).await.unwrap();
    }
    let reports = pop(&mut conn, "ctl:results", PROCS).await;
    for c in &mut fleet.0 {
        assert!(c.wait().unwrap().success(), "a replica failed");
    }
    for r in &reports {
        assert_eq!(r, &format!("ok {CALLERS}"), "every caller got the right result");
    }
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_one_load_for_a_value() {
    let Some(servers) = RedisServer::start_n(2) else { return };
    let mut conn = burst("burst_ok", &servers).await;
    let loads: u64 = conn.get("ctl:loads").await.unwrap();
    println!("{PROCS} processes x {CALLERS} callers: {loads} load(s)");
    assert_eq!(loads, 1, "one load in the whole fleet");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_one_load_for_a_non_retryable_error() {
    let Some(servers) = RedisServer::start_n(2) else { return };
    let mut conn = burst("burst_err", &servers).await;
    let loads: u64 = conn.get("ctl:loads").await.unwrap();
    assert_eq!(loads, 1, "one load in the whole fleet, and its error shared");
    // The negative entry is in Redis, with the negative TTL.
    let c = cache(&servers.iter().map(RedisServer::url).collect::<Vec<_>>().join(","), "burst_err")
        .await;
    let e = c.get_or_load("hot".into(), || async { Ok(1) }).await.unwrap_err();
    assert_eq!(e.code().name(), "SKU_UNKNOWN");
    assert_eq!(c.remote_stats().unwrap().l2_hits, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retryable_error_reaches_the_waiters_and_is_never_stored() {
    let Some(servers) = RedisServer::start_n(1) else { return };
    let mut conn = burst("burst_retry", &servers).await;
    let loads: u64 = conn.get("ctl:loads").await.unwrap();
    println!("retryable error: {loads} load(s) for {PROCS} processes");
    assert!((1..=PROCS as u64).contains(&loads));
    let left: Vec<String> = conn.keys("rr:burst_retry:*").await.unwrap();
    assert!(left.is_empty(), "neither an entry nor a lease is left: {left:?}");
    // The next call loads again.
    let c = cache(&servers[0].url(), "burst_retry").await;
    assert_eq!(c.get_or_load("hot".into(), || async { Ok(5) }).await.unwrap(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_lease_holder_is_taken_over_once_within_the_lease() {
    let Some(servers) = RedisServer::start_n(1) else { return };
    let (urls, ctl) = (servers[0].url(), servers[0].url());
    let mut conn = servers[0].conn().await;
    let mut holder = Fleet(vec![spawn("hang", &urls, "takeover", &ctl)]);
    pop(&mut conn, "ctl:ready", 1).await;
    pop(&mut conn, "ctl:loading", 1).await; // it holds the lease and is loading
    let waiters = Fleet((0..2).map(|_| spawn("finish", &urls, "takeover", &ctl)).collect());
    pop(&mut conn, "ctl:ready", 2).await;

    let killed = Instant::now();
    holder.0[0].kill().unwrap(); // SIGKILL: no chance to release the lease
    holder.0[0].wait().unwrap();
    let reports = pop(&mut conn, "ctl:results", 2).await;
    let took = killed.elapsed();
    assert_eq!(reports, ["ok 1", "ok 1"]);
    let (loads, done): (u64, u64) =
        redis::pipe().get("ctl:loads").get("ctl:done").query_async(&mut conn).await.unwrap();
    println!(
        "lease holder killed: taken over in {took:?} (lease {LEASE:?}), {done} completed load"
    );
    assert_eq!((loads, done), (2, 1), "the killed load and exactly one takeover");
    let margin = Duration::from_millis(1500);
    assert!(took <= LEASE + margin, "took {took:?}");
    drop(waiters);
}
