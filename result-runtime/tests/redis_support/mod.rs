//! Test support for the Redis tests: real `redis-server` processes on free loopback ports,
//! with no persistence, killed on drop.
//!
//! Without `redis-server` on `PATH` a test prints "skipped: redis-server not found" and
//! returns, unless `RESULT_RUNTIME_REQUIRE_REDIS=1` (set by `.ci/run`), where it fails.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a server may take to say it is ready.
const READY: Duration = Duration::from_secs(20);

/// Where `redis-server` is, or `None` (after printing the skip line) when it is missing.
///
/// # Panics
/// When it is missing and `RESULT_RUNTIME_REQUIRE_REDIS=1`.
pub fn redis_server() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|d| d.join("redis-server")).find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("RESULT_RUNTIME_REQUIRE_REDIS").as_deref() != Ok("1"),
            "redis-server not found on PATH and RESULT_RUNTIME_REQUIRE_REDIS=1"
        );
        println!("skipped: redis-server not found");
    }
    found
}

/// One `redis-server` process on 127.0.0.1.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

impl RedisServer {
    /// Starts a server on a free port; `None` when `redis-server` is missing (see the module).
    pub fn start() -> Option<Self> {
        let bin = redis_server()?;
        for _ in 0..5 {
            let port = free_port();
            if let Some(s) = Self::spawn(&bin, port) {
                return Some(s);
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// Starts `n` servers, or `None` when `redis-server` is missing.
    pub fn start_n(n: usize) -> Option<Vec<Self>> {
        (0..n).map(|_| Self::start()).collect()
    }

    fn spawn(bin: &PathBuf, port: u16) -> Option<Self> {
        let dir = std::env::temp_dir().join(format!("rr-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let mut child = Command::new(bin)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        // The server says when it accepts connections: wait for that line, not a timer.
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("Ready to accept connections") {
                    let _ = tx.send(true);
                }
            }
            let _ = tx.send(false);
        });
        match rx.recv_timeout(READY) {
            Ok(true) => Some(Self { child: Some(child), port, dir, bin: bin.clone() }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                None
            }
        }
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A client for the test's own commands.
    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("valid url")
    }

    /// A multiplexed connection for the test's own commands.
    /// No response timeout: the tests' `BLPOP`s wait for signals.
    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        control(&self.client()).await
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port (empty: nothing is persisted).
    pub fn restart(&mut self) {
        self.kill();
        for _ in 0..50 {
            if let Some(mut s) = Self::spawn(&self.bin, self.port) {
                self.child = s.child.take();
                return;
            }
            // The port may linger for a moment after the kill; there is no signal for that.
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("redis-server did not restart on port {}", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    l.local_addr().expect("addr").port()
}

/// A connection for control commands: no response timeout, so `BLPOP` can wait for a signal.
pub async fn control(client: &redis::Client) -> redis::aio::MultiplexedConnection {
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    client.get_multiplexed_async_connection_with_config(&config).await.expect("test connects")
}
