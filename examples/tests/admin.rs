//! The examples' admin server: `GET /debug/tasks` serves the process's live task tree
//! (`result_runtime::group::dump`). Its own test binary: the dump is process-wide.

use std::net::SocketAddr;
use std::time::Duration;

use result_runtime::group::Group;
use result_runtime_examples::observe::{prometheus_recorder, serve_admin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

const T: Duration = Duration::from_secs(10);

/// `GET path` over HTTP/1.0 on loopback: the status line, the headers and the body.
async fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    (head.to_owned(), body.to_owned())
}

#[tokio::test]
async fn debug_tasks_serves_the_live_groups_and_their_tasks() {
    let handle = prometheus_recorder().handle();
    let admin = serve_admin(([127, 0, 0, 1], 0).into(), handle, Vec::new()).await.unwrap();

    let group = Group::<()>::builder().name("admin-debug").build().unwrap();
    let (started, running) = oneshot::channel();
    let (release, released) = oneshot::channel::<()>();
    group.spawn_named("parked", async move {
        started.send(()).unwrap();
        released.await.unwrap();
        Ok(())
    });
    let (release_other, other_released) = oneshot::channel::<()>();
    group.spawn(async move {
        other_released.await.unwrap();
        Ok(())
    });
    tokio::time::timeout(T, running).await.expect("the task starts").unwrap();

    let (head, body) = tokio::time::timeout(T, get(admin.addr, "/debug/tasks")).await.unwrap();
    assert!(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/plain"), "{head}");
    let lines: Vec<&str> = body.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("group admin-debug (fail-fast, age "))
        .unwrap_or_else(|| panic!("no admin-debug group in:\n{body}"));
    // Its tasks, indented under it: the named one running (it has been polled), the other
    // named by its group and index.
    let tasks: Vec<&str> =
        lines[at + 1..].iter().copied().take_while(|l| l.starts_with("  ")).collect();
    assert!(tasks.iter().any(|l| l.starts_with("  parked running, age ")), "{body}");
    assert!(tasks.iter().any(|l| l.starts_with("  admin-debug[1] ")), "{body}");

    release.send(()).unwrap();
    release_other.send(()).unwrap();
    tokio::time::timeout(T, group.join()).await.expect("released tasks finish").unwrap();
    let (_, body) = tokio::time::timeout(T, get(admin.addr, "/debug/tasks")).await.unwrap();
    assert!(!body.contains("admin-debug"), "a joined group leaves the tree:\n{body}");
    admin.shutdown().await;
}
