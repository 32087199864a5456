//! The server examples, run as the programs they are: each test starts the example's
//! binary on port 0, reads `listening on <addr>` from its stdout, talks to it over
//! loopback, then sends SIGINT and checks that it exits 0 within a second.
//!
//! `cargo test -p handloop` builds the examples first; run alone (`--test servers`), this
//! file needs `cargo build -p handloop --examples` beforehand.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An example binary, built by `cargo test` next to this test's binary.
fn example(name: &str) -> Command {
    let mut path = std::env::current_exe().unwrap();
    path.pop(); // the test binary
    if path.ends_with("deps") {
        path.pop();
    }
    let binary = path.join("examples").join(name);
    assert!(
        binary.exists(),
        "{} is not built: run `cargo test -p handloop` (which builds the examples) or \
         `cargo build -p handloop --examples` first",
        binary.display()
    );
    let mut command = Command::new(binary);
    command.stdout(Stdio::piped());
    command
}

/// A running server example.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(name: &str) -> Server {
        Server::start_with(name, &[])
    }

    fn start_with(name: &str, args: &[&str]) -> Server {
        let mut child = example(name).arg("127.0.0.1:0").args(args).spawn().unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut first)
            .unwrap();
        let addr = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{name} printed {first:?} first"))
            .parse()
            .unwrap();
        Server { child, addr }
    }

    /// Ctrl-C: the server must exit with status 0 within a second.
    fn interrupt(mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill only sends a signal to the process we started, which still exists
        // (we have not waited for it).
        let sent = unsafe { libc::kill(pid, libc::SIGINT) };
        assert_eq!(sent, 0);
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exited with {status}");
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "still running a second after SIGINT"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Raises the soft limit on open files (inherited by the servers we start).
fn raise_fd_limit(needed: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass, which outlives the call.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(got, 0);
    if limit.rlim_cur < needed {
        assert!(
            limit.rlim_max >= needed,
            "hard fd limit {} too low",
            limit.rlim_max
        );
        limit.rlim_cur = needed;
        // SAFETY: setrlimit only reads the struct we pass, which outlives the call.
        let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
        assert_eq!(set, 0);
    }
}

#[test]
fn echo_server_serves_thousands_of_connections_at_once_and_stops_on_ctrl_c() {
    const CLIENTS: usize = 2000;
    raise_fd_limit(CLIENTS as u64 + 200);
    let server = Server::start("echo_server");
    let mut clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    // Every connection open at once; each one echoes its own message.
    for (i, client) in clients.iter_mut().enumerate() {
        client
            .write_all(format!("message {i}\n").as_bytes())
            .unwrap();
    }
    for (i, client) in clients.iter_mut().enumerate() {
        let expected = format!("message {i}\n");
        let mut echoed = vec![0; expected.len()];
        client.read_exact(&mut echoed).unwrap();
        assert_eq!(echoed, expected.as_bytes());
    }
    // Half-close: the echo of the last bytes still arrives, then EOF.
    let last = clients.last_mut().unwrap();
    last.write_all(b"bye").unwrap();
    last.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    last.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"bye");
    server.interrupt();
}

#[test]
fn echo_server_on_a_pool_of_two_loops_echoes_every_connection_and_stops_on_ctrl_c() {
    const CLIENTS: usize = 200;
    let server = Server::start_with("echo_server", &["--loops", "2"]);
    let mut clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    for round in 0..3 {
        for (i, client) in clients.iter_mut().enumerate() {
            client
                .write_all(format!("message {i}.{round}\n").as_bytes())
                .unwrap();
        }
        for (i, client) in clients.iter_mut().enumerate() {
            let expected = format!("message {i}.{round}\n");
            let mut echoed = vec![0; expected.len()];
            client.read_exact(&mut echoed).unwrap();
            assert_eq!(echoed, expected.as_bytes());
        }
    }
    // Half-close on a pool loop: the last bytes come back, then EOF.
    let last = clients.last_mut().unwrap();
    last.write_all(b"bye").unwrap();
    last.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    last.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"bye");
    server.interrupt();
}

#[test]
fn echo_client_sends_each_line_and_prints_the_echo() {
    let server = Server::start("echo_server");
    let mut client = example("echo_client")
        .arg(server.addr.to_string())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    client
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello\nevent loop\n")
        .unwrap(); // dropped here: end of input
    let output = client.wait_with_output().unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "hello\nevent loop\n"
    );
    server.interrupt();
}

/// Sends raw bytes on a fresh connection and reads until EOF or `timeout`.
fn raw_exchange(addr: SocketAddr, request: &[u8]) -> (Vec<u8>, bool) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut reply = Vec::new();
    let closed = stream.read_to_end(&mut reply).is_ok();
    (reply, closed)
}

#[test]
fn kv_server_answers_a_real_redis_client() {
    let server = Server::start("kv_server");
    let client = redis::Client::open(format!("redis://{}/", server.addr)).unwrap();
    let mut con = client.get_connection().unwrap();
    let cmd = |name: &str| redis::cmd(name);

    assert_eq!(cmd("PING").query::<String>(&mut con).unwrap(), "PONG");
    assert_eq!(
        cmd("PING").arg("hi").query::<String>(&mut con).unwrap(),
        "hi"
    );
    assert_eq!(
        cmd("ECHO")
            .arg("echo me")
            .query::<String>(&mut con)
            .unwrap(),
        "echo me"
    );
    assert_eq!(
        cmd("SET")
            .arg("k")
            .arg("v")
            .query::<String>(&mut con)
            .unwrap(),
        "OK"
    );
    assert_eq!(
        cmd("GET")
            .arg("k")
            .query::<Option<String>>(&mut con)
            .unwrap()
            .as_deref(),
        Some("v")
    );
    assert_eq!(
        cmd("GET")
            .arg("nope")
            .query::<Option<String>>(&mut con)
            .unwrap(),
        None
    );
    // Binary-safe values.
    let binary: Vec<u8> = (0..=255).collect();
    cmd("SET")
        .arg("bin")
        .arg(&binary)
        .query::<()>(&mut con)
        .unwrap();
    assert_eq!(
        cmd("GET").arg("bin").query::<Vec<u8>>(&mut con).unwrap(),
        binary
    );
    assert_eq!(
        cmd("EXISTS")
            .arg("k")
            .arg("k")
            .arg("nope")
            .query::<i64>(&mut con)
            .unwrap(),
        2
    );
    assert_eq!(cmd("INCR").arg("n").query::<i64>(&mut con).unwrap(), 1);
    assert_eq!(cmd("INCR").arg("n").query::<i64>(&mut con).unwrap(), 2);
    let not_a_number = cmd("INCR").arg("k").query::<i64>(&mut con).unwrap_err();
    assert!(
        not_a_number.to_string().contains("not an integer"),
        "{not_a_number}"
    );
    assert_eq!(cmd("DBSIZE").query::<i64>(&mut con).unwrap(), 3);
    assert_eq!(
        cmd("DEL")
            .arg("k")
            .arg("n")
            .arg("nope")
            .query::<i64>(&mut con)
            .unwrap(),
        2
    );
    assert_eq!(cmd("DBSIZE").query::<i64>(&mut con).unwrap(), 1);
    assert_eq!(cmd("FLUSHALL").query::<String>(&mut con).unwrap(), "OK");
    assert_eq!(cmd("DBSIZE").query::<i64>(&mut con).unwrap(), 0);
    assert!(
        cmd("CONFIG")
            .arg("GET")
            .arg("save")
            .query::<Vec<String>>(&mut con)
            .unwrap()
            .is_empty()
    );
    assert!(
        cmd("COMMAND")
            .arg("DOCS")
            .query::<Vec<String>>(&mut con)
            .unwrap()
            .is_empty()
    );
    let unknown = cmd("FROB").arg("a").query::<String>(&mut con).unwrap_err();
    assert!(
        unknown.to_string().contains("unknown command 'FROB'"),
        "{unknown}"
    );
    let arity = cmd("GET").query::<String>(&mut con).unwrap_err();
    assert!(
        arity.to_string().contains("wrong number of arguments"),
        "{arity}"
    );
    let syntax = cmd("SET")
        .arg("a")
        .arg("b")
        .arg("XX")
        .arg("1")
        .query::<String>(&mut con)
        .unwrap_err();
    assert!(syntax.to_string().contains("syntax error"), "{syntax}");
    let bad_ttl = cmd("SET")
        .arg("a")
        .arg("b")
        .arg("EX")
        .arg("0")
        .query::<String>(&mut con)
        .unwrap_err();
    assert!(
        bad_ttl.to_string().contains("invalid expire time"),
        "{bad_ttl}"
    );

    // A pipeline: many commands, one round trip.
    let (a, b, missing): (String, i64, Option<String>) = redis::pipe()
        .cmd("SET")
        .arg("p")
        .arg("1")
        .ignore()
        .cmd("GET")
        .arg("p")
        .cmd("INCR")
        .arg("p")
        .cmd("GET")
        .arg("missing")
        .query(&mut con)
        .unwrap();
    assert_eq!((a.as_str(), b, missing), ("1", 2, None));

    assert_eq!(cmd("QUIT").query::<String>(&mut con).unwrap(), "OK");
    server.interrupt();
}

#[test]
fn kv_server_expires_keys_on_its_timer() {
    let server = Server::start("kv_server");
    let client = redis::Client::open(format!("redis://{}/", server.addr)).unwrap();
    let mut con = client.get_connection().unwrap();
    redis::cmd("SET")
        .arg("short")
        .arg("x")
        .arg("PX")
        .arg("50")
        .query::<()>(&mut con)
        .unwrap();
    redis::cmd("SET")
        .arg("long")
        .arg("y")
        .arg("EX")
        .arg("3600")
        .query::<()>(&mut con)
        .unwrap();
    // A SET that replaces an expiring key takes its expiry away.
    redis::cmd("SET")
        .arg("kept")
        .arg("1")
        .arg("PX")
        .arg("50")
        .query::<()>(&mut con)
        .unwrap();
    redis::cmd("SET")
        .arg("kept")
        .arg("2")
        .query::<()>(&mut con)
        .unwrap();
    assert_eq!(
        redis::cmd("GET")
            .arg("short")
            .query::<Option<String>>(&mut con)
            .unwrap()
            .as_deref(),
        Some("x")
    );
    // DBSIZE never looks at a key: only the timer can make it drop to 2.
    let start = Instant::now();
    while redis::cmd("DBSIZE").query::<i64>(&mut con).unwrap() != 2 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the key never expired"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        redis::cmd("GET")
            .arg("short")
            .query::<Option<String>>(&mut con)
            .unwrap(),
        None
    );
    assert_eq!(
        redis::cmd("GET")
            .arg("long")
            .query::<Option<String>>(&mut con)
            .unwrap()
            .as_deref(),
        Some("y")
    );
    assert_eq!(
        redis::cmd("GET")
            .arg("kept")
            .query::<Option<String>>(&mut con)
            .unwrap()
            .as_deref(),
        Some("2")
    );
    server.interrupt();
}

#[test]
fn kv_server_answers_a_pipelined_batch_in_one_write() {
    let server = Server::start("kv_server");
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // A hundred commands in one write: they arrive in one read.
    let batch: Vec<u8> = (0..100).flat_map(|_| *b"*1\r\n$4\r\nPING\r\n").collect();
    stream.write_all(&batch).unwrap();
    // The replies left in one write, so they arrive together: the first read returns
    // them all (a write per reply would wake this read at the first one).
    let expected: Vec<u8> = (0..100).flat_map(|_| *b"+PONG\r\n").collect();
    let mut buf = vec![0; 4096];
    let n = stream.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], &expected[..]);
    // Inline commands, as typed into telnet, work too.
    stream.write_all(b"PING\r\nECHO hi\r\n").unwrap();
    let n = stream.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"+PONG\r\n$2\r\nhi\r\n");
    server.interrupt();
}

#[test]
fn kv_server_replies_to_malformed_input_with_an_error_closes_and_lives_on() {
    let server = Server::start("kv_server");
    for garbage in [
        &b"*1\r\n$x\r\n"[..],
        b"*2\r\n+PING\r\n",
        b"*1\r\n$4\r\nPINGxx",
        b"*99999999999\r\n",
        b"*1\r\n$-1\r\n",
        &[b'*'; 100],
    ] {
        let (reply, closed) = raw_exchange(server.addr, garbage);
        let reply = String::from_utf8_lossy(&reply);
        assert!(
            reply.starts_with("-ERR Protocol error"),
            "{garbage:?} -> {reply:?}"
        );
        assert!(closed, "the connection was not closed after {garbage:?}");
    }
    // QUIT answers and closes.
    let (reply, closed) = raw_exchange(server.addr, b"*1\r\n$4\r\nQUIT\r\n");
    assert_eq!(reply, b"+OK\r\n");
    assert!(closed);
    // The server lives.
    let (reply, _) = raw_exchange(server.addr, b"PING\r\nQUIT\r\n");
    assert_eq!(reply, b"+PONG\r\n+OK\r\n");
    server.interrupt();
}
